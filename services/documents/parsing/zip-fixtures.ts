import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";

/*
 * Zip archives for tests, written by hand so a test can make what no zip tool would: an entry that states
 * a false size, and a zip bomb built with a streaming deflate (hundreds of MB in, never in memory at once).
 */

export interface ZipEntrySpec {
  name: string;
  /** The entry's bytes, produced piece by piece (the same Buffer may be yielded again and again). */
  chunks: () => Iterable<Buffer>;
  /** A size to declare instead of the true one: a lying archive. */
  declaredSize?: number;
  /** Store instead of deflate. */
  stored?: boolean;
}

export const textEntry = (name: string, text: string): ZipEntrySpec => ({ name, chunks: () => [Buffer.from(text, "utf8")] });

export async function makeZip(entries: ZipEntrySpec[]): Promise<Buffer> {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, "utf8");
    let crc = 0;
    let size = 0;
    const parts: Buffer[] = [];
    const source = Readable.from(
      (function* () {
        for (const chunk of entry.chunks()) {
          crc = zlib.crc32(chunk, crc);
          size += chunk.length;
          yield chunk;
        }
      })(),
      { objectMode: false },
    );
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        parts.push(chunk);
        done();
      },
    });
    if (entry.stored) await pipeline(source, sink);
    else await pipeline(source, zlib.createDeflateRaw({ level: 9 }), sink);
    const data = Buffer.concat(parts);
    const declared = entry.declaredSize ?? size;
    const method = entry.stored ? 0 : 8;

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(0x21, 12); // 1980-01-01
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(declared, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, data);

    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE(20, 4); // made by
    header.writeUInt16LE(20, 6); // needed
    header.writeUInt16LE(0x0800, 8);
    header.writeUInt16LE(method, 10);
    header.writeUInt16LE(0, 12);
    header.writeUInt16LE(0x21, 14);
    header.writeUInt32LE(crc >>> 0, 16);
    header.writeUInt32LE(data.length, 20);
    header.writeUInt32LE(declared, 24);
    header.writeUInt16LE(name.length, 28);
    header.writeUInt32LE(offset, 42);
    central.push(header, name);
    offset += local.length + name.length + data.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

const CONTENT_TYPES =
  '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
  '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
  '<Default Extension="xml" ContentType="application/xml"/>' +
  '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>';
const RELS =
  '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
  '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>';
const W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"';

/**
 * A .docx whose one paragraph is `expandedBytes` of the letter "a": about 1,000 times smaller zipped, the
 * classic zip bomb. `declaredSize` makes the archive lie about the document's size.
 */
export function bombDocx(expandedBytes: number, opts: { declaredSize?: number } = {}): Promise<Buffer> {
  const head = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><w:document ${W}><w:body><w:p><w:r><w:t>`);
  const tail = Buffer.from("</w:t></w:r></w:p></w:body></w:document>");
  const piece = Buffer.alloc(1024 * 1024, "a");
  return makeZip([
    textEntry("[Content_Types].xml", CONTENT_TYPES),
    textEntry("_rels/.rels", RELS),
    {
      name: "word/document.xml",
      chunks: function* () {
        yield head;
        for (let left = expandedBytes; left > 0; left -= piece.length) yield left >= piece.length ? piece : piece.subarray(0, left);
        yield tail;
      },
      ...(opts.declaredSize !== undefined ? { declaredSize: opts.declaredSize } : {}),
    },
  ]);
}

/** A well-formed minimal .docx with one paragraph per string. */
export function plainDocx(paragraphs: string[]): Promise<Buffer> {
  const body = paragraphs.map((p) => `<w:p><w:r><w:t>${p}</w:t></w:r></w:p>`).join("");
  return makeZip([
    textEntry("[Content_Types].xml", CONTENT_TYPES),
    textEntry("_rels/.rels", RELS),
    textEntry("word/document.xml", `<?xml version="1.0" encoding="UTF-8"?><w:document ${W}><w:body>${body}</w:body></w:document>`),
  ]);
}
