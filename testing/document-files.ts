import { Document, HeadingLevel, Packer, Paragraph, TextRun } from "docx";
import PDFDocument from "pdfkit";

/*
 * Real files for tests, generated on the spot with the libraries people make them with: a PDF from
 * pdfkit and a .docx from docx, so the parsers meet what they will meet in production.
 */

export interface PdfSection {
  heading: string;
  paragraphs: string[];
}

/** One page per section: the heading at 20 pt, its paragraphs at 11 pt. */
export function makePdf(sections: PdfSection[], opts: { title?: string; userPassword?: string } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const doc = new PDFDocument({
      autoFirstPage: false,
      ...(opts.title ? { info: { Title: opts.title } } : {}),
      ...(opts.userPassword ? { userPassword: opts.userPassword, pdfVersion: "1.7" as const } : {}),
    });
    const parts: Buffer[] = [];
    doc.on("data", (b: Buffer) => parts.push(b));
    doc.on("end", () => resolve(Buffer.concat(parts)));
    doc.on("error", reject);
    for (const section of sections) {
      doc.addPage();
      doc.fontSize(20).text(section.heading);
      doc.moveDown(0.5);
      for (const p of section.paragraphs) {
        doc.fontSize(11).text(p);
        doc.moveDown();
      }
    }
    doc.end();
  });
}

export type DocxParagraph = { heading?: 1 | 2 | "title"; text: string; bold?: string };

export function makeDocx(paragraphs: DocxParagraph[]): Promise<Buffer> {
  const level = { 1: HeadingLevel.HEADING_1, 2: HeadingLevel.HEADING_2, title: HeadingLevel.TITLE } as const;
  const doc = new Document({
    sections: [
      {
        children: paragraphs.map((p) =>
          p.heading
            ? new Paragraph({ text: p.text, heading: level[p.heading] })
            : new Paragraph({ children: [new TextRun(p.text), ...(p.bold ? [new TextRun({ text: p.bold, bold: true })] : [])] }),
        ),
      },
    ],
  });
  return Packer.toBuffer(doc);
}
