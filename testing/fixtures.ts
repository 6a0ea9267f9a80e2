/** Real PDF and DOCX files for tests, made on the fly (no binary fixtures in the repository). */
import PDFDocument from "pdfkit";
import { Document, HeadingLevel, Packer, Paragraph } from "docx";

export interface Section {
  heading: string;
  paragraphs: string[];
}

/** A PDF with one page per section: the heading in a large font, then its paragraphs. */
export function makePdf(title: string, sections: Section[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const doc = new PDFDocument({ info: { Title: title }, margin: 56 });
    const chunks: Buffer[] = [];
    doc.on("data", (c: Buffer) => chunks.push(c));
    doc.on("end", () => resolve(Buffer.concat(chunks)));
    doc.on("error", reject);
    sections.forEach((s, i) => {
      if (i > 0) doc.addPage();
      doc.fontSize(20).text(s.heading);
      doc.moveDown();
      for (const p of s.paragraphs) doc.fontSize(11).text(p).moveDown();
    });
    doc.end();
  });
}

/** A .docx whose headings use Word's Heading 1 style. */
export function makeDocx(sections: Section[]): Promise<Buffer> {
  const doc = new Document({
    sections: [
      {
        children: sections.flatMap((s) => [
          new Paragraph({ text: s.heading, heading: HeadingLevel.HEADING_1 }),
          ...s.paragraphs.map((p) => new Paragraph({ text: p })),
        ]),
      },
    ],
  });
  return Packer.toBuffer(doc);
}
