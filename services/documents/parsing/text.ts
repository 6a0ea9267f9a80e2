import { assemble, type ParsedText } from "./blocks.js";

/** Plain text has no structure beyond its paragraphs, which the chunker finds by itself. */
export function parsePlainText(source: string): ParsedText {
  return assemble([{ kind: "paragraph", text: source }]);
}
