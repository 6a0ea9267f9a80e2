/**
 * One output stream for the whole stack: every line of every process, whole lines only, prefixed with
 * the padded name of who wrote it. Colour only for a terminal, never for a pipe or a file.
 */
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";

const PALETTE = [36, 32, 33, 35, 34, 96, 92, 93, 95, 94]; // ANSI foreground colours

export interface PrefixedLog {
  /** Write one line as `source`. */
  line(source: string, text: string): void;
}

export interface PrefixedLogOptions {
  /** Names that will write, so the column is as wide as the longest. */
  sources: readonly string[];
  colour: boolean;
  write?: (chunk: string) => void;
}

export function createPrefixedLog(options: PrefixedLogOptions): PrefixedLog {
  const width = Math.max(...options.sources.map((s) => s.length));
  const write = options.write ?? ((chunk: string) => process.stdout.write(chunk));
  const colours = new Map(options.sources.map((s, i) => [s, PALETTE[i % PALETTE.length]!]));
  return {
    line(source, text) {
      const label = `${source.padEnd(width)} |`;
      const colour = colours.get(source);
      write(`${options.colour && colour ? `\x1b[${colour}m${label}\x1b[0m` : label} ${text}\n`);
    },
  };
}

/** Calls `onLine` per complete line of `stream`; a last line without a newline is delivered at its end. */
export function forEachLine(stream: Readable, onLine: (line: string) => void): void {
  createInterface({ input: stream, crlfDelay: Infinity }).on("line", onLine);
}

/** Colour when stdout is a terminal and the user has not asked for none (https://no-color.org). */
export function wantsColour(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(stream.isTTY) && !env.NO_COLOR;
}
