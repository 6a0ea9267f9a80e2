/**
 * A parser's verdict that the bytes are not a document it can read (corrupt, encrypted, no text). The
 * dispatcher turns it into INVALID_ARGUMENT naming the file, so parsers need not know the request.
 */
export class UnreadableDocument extends Error {
  constructor(readonly problem: string) {
    super(problem);
    this.name = "UnreadableDocument";
  }
}
