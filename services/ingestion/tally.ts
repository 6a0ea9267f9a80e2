import type { ConnectorEvent, SourceItem } from "./connectors/types.js";
import type { ItemOutcome } from "./pipeline.js";
import type { Checkpoint, Counters, QualityCounts } from "./store.js";

/** The contract keeps at most 50 warnings; further ones are dropped. */
export const MAX_WARNINGS = 50;

/** A job's counters and data-quality report as its items are handled. */
export class JobTally {
  readonly counters: Counters = {
    itemsDiscovered: 0,
    itemsProcessed: 0,
    itemsSucceeded: 0,
    itemsSkipped: 0,
    itemsFailed: 0,
    documentsCreated: 0,
    documentsUpdated: 0,
    chunksIndexed: 0,
    bytesRead: 0,
    passesCompleted: 0,
  };
  readonly report: QualityCounts = { itemsChecked: 0, emptyCount: 0, duplicateCount: 0, tooShortCount: 0, unparseableCount: 0, warnings: [] };
  /** The first item failure, quoted when every item failed. */
  firstError = "";
  /** Items read and not yet handled, and their bytes: the checkpoint leaves them out. */
  private inFlight = { items: 0, bytes: 0 };

  constructor(private readonly minTextLength: number) {}

  /** Continues from a checkpoint of an earlier run of the same job (its worker died). */
  restore(from: Checkpoint): void {
    Object.assign(this.counters, from.progress);
    Object.assign(this.report, from.report, { warnings: [...(from.report.warnings ?? [])] });
    this.firstError = from.firstError;
  }

  /** An item read from the source, before it goes through the pipeline. */
  read(item: SourceItem): void {
    this.counters.itemsDiscovered++;
    this.counters.bytesRead += item.content.length;
    this.report.itemsChecked++;
    this.inFlight.items++;
    this.inFlight.bytes += item.content.length;
  }

  /** What the pipeline made of an item read earlier. */
  handled(item: SourceItem, outcome: ItemOutcome): void {
    const c = this.counters;
    const r = this.report;
    c.itemsProcessed++;
    this.inFlight.items--;
    this.inFlight.bytes -= item.content.length;
    switch (outcome.result) {
      case "succeeded":
        c.itemsSucceeded++;
        if (outcome.created) c.documentsCreated++;
        else c.documentsUpdated++;
        c.chunksIndexed += outcome.chunksIndexed;
        if (outcome.duplicateKept) {
          r.duplicateCount++;
          this.warn(`${item.item}: same text as another item of this job (kept: keep_duplicates is set)`);
        }
        return;
      case "skipped":
        c.itemsSkipped++;
        if (outcome.reason === "empty") {
          r.emptyCount++;
          this.warn(`${item.item}: no text (skipped)`);
        } else if (outcome.reason === "too_short") {
          r.tooShortCount++;
          this.warn(`${item.item}: text shorter than min_text_length ${this.minTextLength} (skipped)`);
        } else if (outcome.reason === "duplicate") {
          r.duplicateCount++;
          this.warn(`${item.item}: same text as document ${outcome.document?.documentId ?? "?"} (skipped)`);
        }
        return;
      case "failed":
        c.itemsFailed++;
        if (outcome.unparseable) r.unparseableCount++;
        this.firstError ||= `${item.item}: ${outcome.message}`;
        return;
    }
  }

  /** An event of the connector that is not an item to process (fetch failures, skips, observations). */
  connector(event: Exclude<ConnectorEvent, { kind: "item" }>): void {
    const c = this.counters;
    if (event.kind === "warning") {
      this.warn(event.message);
      return;
    }
    c.itemsDiscovered++;
    c.itemsProcessed++;
    if (event.kind === "failed") {
      c.itemsFailed++;
      this.firstError ||= `${event.item}: ${event.message}`;
    } else {
      c.itemsSkipped++;
      this.warn(`${event.item}: ${event.reason} (skipped)`);
    }
  }

  warn(message: string): void {
    const w = this.report.warnings;
    if (w.length < MAX_WARNINGS && !w.includes(message)) w.push(message);
  }

  /**
   * The counters of the items handled so far only (reads of items still in flight are left out): what a
   * resumed run starts from, since it reads those items again.
   */
  checkpoint(): Checkpoint {
    const { progress, report } = this.snapshot();
    progress.itemsDiscovered -= this.inFlight.items;
    progress.bytesRead -= this.inFlight.bytes;
    report.itemsChecked -= this.inFlight.items;
    return { progress, report, firstError: this.firstError };
  }

  /** Copies for storage: the tally keeps changing while a write is in flight. */
  snapshot(): { progress: Counters; report: QualityCounts } {
    return { progress: { ...this.counters }, report: { ...this.report, warnings: [...this.report.warnings] } };
  }
}
