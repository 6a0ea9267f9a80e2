/*
 * The API counts offsets in Unicode code points; JavaScript strings index UTF-16 units. The chunker
 * works in UTF-16 (cheap slicing) and converts its boundaries once, here.
 */

export function codePointLength(text: string): number {
  let pairs = 0;
  for (let i = 0; i < text.length; i++) if (isHighSurrogate(text.charCodeAt(i))) pairs++;
  return text.length - pairs;
}

/** Code-point index of each UTF-16 index, in one pass over the text however many indices there are. */
export function codePointIndex(text: string, utf16Indices: Iterable<number>): Map<number, number> {
  const wanted = [...new Set(utf16Indices)].sort((a, b) => a - b);
  const out = new Map<number, number>();
  let pairs = 0;
  let i = 0;
  for (const target of wanted) {
    for (; i < target; i++) {
      if (isHighSurrogate(text.charCodeAt(i)) && i + 1 < target) {
        pairs++;
        i++;
      }
    }
    out.set(target, target - pairs);
  }
  return out;
}

export function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
