/**
 * The zeros written ahead of the active segment's records: an fdatasync of records over zeros
 * flushes data alone, not the journal for a new size and blocks (docs/storage.md, "Zeros
 * ahead"). They are written through a second handle on the segment (its own position) on a
 * worker thread, so the write path neither writes them nor, as a rule, waits for them.
 *
 * @module
 */

import { ioError, writeZeros } from "./_fs.ts";

/** The zeros reach this far past the last record once an extension completes. */
export const PREALLOCATE_BYTES = 1024 * 1024;
/** An extension starts once fewer zeros than this are left ahead of the records. */
const PREALLOCATE_LOW_WATER = PREALLOCATE_BYTES / 2;

/**
 * The zeros of one segment file. Records are never written into a range being zeroed
 * (`beforeWrite` waits for it first), and the store settles an extension before it truncates or
 * closes the file (`settle`, `close`), so zeros never land over records or after a cut.
 */
export class ZerosAhead {
  readonly #path: string;
  readonly #limit: number;
  /** The file's size the write path may count on: records, then zeros once an extension ends. */
  #allocated: number;
  #extender: Deno.FsFile | undefined;
  /** Zeros being written past `#allocated`; never rejects (a failure lands in `#error`). */
  #extension: Promise<void> | undefined;
  /** A failed extension: the next `beforeWrite` or `settle` throws it (the store stops). */
  #error: unknown;

  /** For the segment at `path` of `size` bytes, which may grow up to `limit`. */
  constructor(path: string, size: number, limit: number) {
    this.#path = path;
    this.#allocated = size;
    this.#limit = limit;
  }

  /** Whether the file may hold zeros after its records, which end at `end`. */
  pastRecords(end: number): boolean {
    return this.#allocated > end;
  }

  /**
   * Records are about to be written up to `end`. Zeros being written where they go land first
   * (rare: an extension starts half a preallocation ahead); past the zeros, the records grow the
   * file.
   */
  async beforeWrite(end: number): Promise<void> {
    if (end > this.#allocated && this.#extension) await this.settle();
    if (this.#error !== undefined) await this.settle();
    this.#allocated = Math.max(this.#allocated, end);
  }

  /**
   * The records end at `end` (written and synced): when fewer than `PREALLOCATE_LOW_WATER` zeros
   * are left ahead of them, start writing zeros up to `PREALLOCATE_BYTES` past `end` (within the
   * limit). They become durable with the next append's fdatasync, which then commits the new
   * size: once per extension, as when the zeros were written with the records.
   */
  afterWrite(end: number): void {
    if (this.#extension || this.#error !== undefined) return;
    if (this.#allocated - end >= PREALLOCATE_LOW_WATER) return;
    const from = this.#allocated;
    const to = Math.min(this.#limit, end + PREALLOCATE_BYTES);
    if (to <= from) return;
    this.#extension = this.#writeZerosAt(from, to).then(
      () => {
        this.#allocated = Math.max(this.#allocated, to);
        this.#extension = undefined;
      },
      (err) => {
        this.#error = err;
        this.#extension = undefined;
      },
    );
  }

  /** The file was cut to `bytes` (after `settle`). */
  cut(bytes: number): void {
    this.#allocated = bytes;
  }

  /** Wait for an extension in flight; a failed one fails the caller (and so stops the store). */
  async settle(): Promise<void> {
    if (this.#extension) await this.#extension;
    if (this.#error !== undefined) {
      throw ioError("Cannot write zeros ahead of the Raft log", this.#error);
    }
  }

  /** Wait for an extension in flight (a failure is not reported) and close the second handle. */
  async close(): Promise<void> {
    if (this.#extension) await this.#extension;
    this.#extender?.close();
    this.#extender = undefined;
  }

  async #writeZerosAt(from: number, to: number): Promise<void> {
    this.#extender ??= await Deno.open(this.#path, { write: true });
    await this.#extender.seek(from, Deno.SeekMode.Start);
    await writeZeros(this.#extender, to - from);
  }
}
