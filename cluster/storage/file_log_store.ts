/**
 * `FileLogStore`: the Raft log in segment files with a CRC32C per record, group commit and
 * torn-tail recovery. The record format is in `_record.ts`, the recovery scan in
 * `_segment_scan.ts`.
 *
 * @module
 */

import type { Entry } from "../raft/mod.ts";
import { type AppendOptions, assertContiguous, type LogStore } from "./log_store.ts";
import { decodeRecord, encodeRecords, recordBytes, toEntry } from "./_record.ts";
import {
  ioError,
  readFileIfExists,
  readWhole,
  syncDir,
  writeAllSync,
  writeFileAtomic,
} from "./_fs.ts";
import { ZerosAhead } from "./_zeros_ahead.ts";
import { openSegments, type Segment, segmentLastIndex, segmentName } from "./_segment_scan.ts";
import { entryBytesAt, SegmentReads } from "./_segment_read.ts";

export { LogCorruptionError } from "./_segment_scan.ts";

/** Options of `FileLogStore.open`. */
export interface FileLogStoreOptions {
  /** A segment is sealed once the next batch would take it past this size. Default 64 MiB. */
  readonly segmentBytesMax?: number;
  /** Where recovery notes go (torn tail truncated). Default `console.warn`. */
  readonly log?: (msg: string) => void;
  /** Test seam: called before every fdatasync of a segment; a throw acts as an fsync failure. */
  readonly beforeSync?: () => void;
  /**
   * Test seam: called after every successful fdatasync of a segment with its path and the byte
   * length now durable in it. The chaos suite records it to cut the files back to what was
   * fsynced when it simulates power loss.
   */
  readonly afterSync?: (segmentPath: string, durableBytes: number) => void;
}

type Op =
  | { kind: "append"; entries: readonly Entry[]; blocking: boolean; done: Settle }
  | { kind: "compact"; throughIndex: number; done: Settle }
  | { kind: "reset"; nextIndex: number; done: Settle }
  | { kind: "close"; done: Settle }
  /** Resolves once every earlier operation has completed. */
  | { kind: "barrier"; done: Settle };

interface Settle {
  resolve(): void;
  reject(err: unknown): void;
}

/** Default `segmentBytesMax`: 64 MiB. */
export const SEGMENT_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
/** Appends up to this size are encoded into one kept buffer (`#scratchFor`); larger ones, fresh. */
const SCRATCH_BYTES_MAX = 1024 * 1024;

/**
 * The durable log. Appends queued while a write+fdatasync is in flight are coalesced into the
 * next one (group commit): many proposals, one fsync. See `LogStore` for the contract.
 */
export class FileLogStore implements LogStore {
  readonly #dir: string;
  readonly #segmentBytesMax: number;
  readonly #beforeSync: () => void;
  readonly #afterSync: (segmentPath: string, durableBytes: number) => void;
  /** Verified segments in index order; the last one is open as `#active`. */
  readonly #segments: Segment[];
  #active: Deno.FsFile | undefined;
  /** The zeros ahead of `#active`'s records (`_zeros_ahead.ts`). */
  #zeros: ZerosAhead | undefined;
  #first: number;
  #queue: Op[] = [];
  #draining = false;
  /** Set by the first I/O failure: the store is stopped for good. */
  #fatal: Error | undefined;
  #closed = false;
  #scratch = new Uint8Array(0);
  readonly #reads = new SegmentReads();

  private constructor(dir: string, segments: Segment[], opts: FileLogStoreOptions) {
    this.#dir = dir;
    this.#segments = segments;
    this.#segmentBytesMax = opts.segmentBytesMax ?? SEGMENT_BYTES_MAX_DEFAULT;
    this.#beforeSync = opts.beforeSync ?? (() => {});
    this.#afterSync = opts.afterSync ?? (() => {});
    this.#first = segments[0]?.firstIndex ?? 1;
  }

  /**
   * Open (creating if needed) the log in `dir`. Verifies every record; truncates a torn tail;
   * throws `LogCorruptionError` on damage in the middle, in which case the node must not start.
   */
  static async open(dir: string, opts: FileLogStoreOptions = {}): Promise<FileLogStore> {
    await Deno.mkdir(dir, { recursive: true });
    const segments = await openSegments(dir, opts.log ?? console.warn);
    const store = new FileLogStore(dir, segments, opts);
    if (segments.length === 0) store.#first = await readEmptyLogStart(dir);
    const last = segments.at(-1);
    if (last) await store.#openActive(last); // the scan cut any zeros after the records
    return store;
  }

  firstIndex(): number {
    return this.#first;
  }

  lastIndex(): number {
    const last = this.#segments.at(-1);
    return last ? segmentLastIndex(last) : this.#first - 1;
  }

  term(index: number): number | undefined {
    if (index < this.#first || index > this.lastIndex()) return undefined;
    const seg = this.#segmentOf(index);
    return seg.terms[index - seg.firstIndex];
  }

  async load(): Promise<{ entries: Entry[] }> {
    await this.#enqueue({ kind: "barrier", done: noSettle });
    const entries: Entry[] = [];
    for (const seg of this.#segments) {
      const scanned = seg.scanned; // verified by the open's scan, unwritten since (`#enqueue`)
      seg.scanned = undefined;
      const buf = scanned ?? await readWhole(seg.path);
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      const from = Math.max(this.#first, seg.firstIndex);
      for (let i = from - seg.firstIndex; i < seg.offsets.length; i++) {
        const r = decodeRecord(buf, view, seg.offsets[i], seg.bytes, scanned !== undefined);
        if (!r.ok || r.record.index !== seg.firstIndex + i) {
          throw new Error(`Cannot load the Raft log: ${seg.path} changed under the running node`);
        }
        entries.push(toEntry(buf, r.record));
      }
    }
    return { entries };
  }

  readEntries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (this.#closed) throw new Error("Cannot read the Raft log: it is closed");
    if (lo >= hi) return [];
    if (lo < this.#first || hi - 1 > this.lastIndex()) {
      throw new Error(
        `Cannot read Raft log entries ${lo}..${hi - 1}: the log holds ${this.#first}..` +
          `${this.lastIndex()}`,
      );
    }
    const out: Entry[] = [];
    let bytes = 0;
    let at = lo;
    // Bounded: every turn reads at least one entry, or stops.
    while (at < hi) {
      const seg = this.#segmentOf(at);
      const stop = Math.min(hi, segmentLastIndex(seg) + 1);
      let count = 0;
      while (at + count < stop) {
        bytes += entryBytesAt(seg, at + count - seg.firstIndex);
        if (bytes > maxBytes && (out.length > 0 || count > 0)) break;
        count++;
      }
      if (count === 0) break;
      for (const e of this.#reads.read(seg, at, count)) out.push(e);
      at += count;
      if (at < stop) break; // stopped by maxBytes
    }
    return out;
  }

  append(entries: readonly Entry[], opts?: AppendOptions): Promise<void> {
    try {
      assertContiguous(entries, "Cannot append to the Raft log");
    } catch (err) {
      return Promise.reject(err);
    }
    const blocking = opts?.blocking === true; // `AppendOptions.blocking`
    return this.#enqueue({ kind: "append", entries, blocking, done: noSettle });
  }

  compact(throughIndex: number): Promise<void> {
    return this.#enqueue({ kind: "compact", throughIndex, done: noSettle });
  }

  reset(nextIndex: number): Promise<void> {
    if (!Number.isSafeInteger(nextIndex) || nextIndex < 1) {
      return Promise.reject(new Error(`Cannot reset the Raft log to index ${nextIndex}`));
    }
    return this.#enqueue({ kind: "reset", nextIndex, done: noSettle });
  }

  close(): Promise<void> {
    return this.#enqueue({ kind: "close", done: noSettle });
  }

  #enqueue(op: Op): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("Cannot use the Raft log: it is closed"));
    const p = new Promise<void>((resolve, reject) => {
      op.done = { resolve, reject };
    });
    if (op.kind === "close") this.#closed = true;
    // Bytes the open's scan kept for the first `load()` are stale once anything is written.
    if (op.kind !== "barrier") { for (const seg of this.#segments) seg.scanned = undefined; }
    this.#queue.push(op);
    if (!this.#draining) void this.#drain();
    return p;
  }

  /** Run queued operations in call order; consecutive appends share one write+sync. */
  async #drain(): Promise<void> {
    this.#draining = true;
    while (this.#queue.length > 0) {
      const op = this.#queue[0];
      if (this.#fatal && op.kind !== "close") {
        this.#queue.shift();
        op.done.reject(stoppedError(this.#fatal));
        continue;
      }
      if (op.kind === "append") {
        await this.#appendBatch();
        continue;
      }
      this.#queue.shift();
      try {
        if (op.kind === "compact") await this.#compact(op.throughIndex);
        else if (op.kind === "reset") await this.#deleteFrom(0, op.nextIndex);
        else if (op.kind === "close") {
          await this.#closeFiles();
          this.#reads.closeAll();
        }
        op.done.resolve();
      } catch (err) {
        this.#fatal ??= ioError(`Raft log ${op.kind} failed`, err);
        op.done.reject(this.#fatal);
      }
    }
    this.#draining = false;
  }

  /**
   * Take the leading appends of the queue that can share one write (the first may replace a
   * suffix; later ones must follow on), make them durable, and settle them.
   */
  async #appendBatch(): Promise<void> {
    const batch: Op[] = [];
    const entries: Entry[] = [];
    let truncateFrom: number | undefined;
    let next = this.lastIndex() + 1;
    // Blocks the event loop for its fdatasync only when every append it carries asked for that.
    let blocking = true;
    while (this.#queue.length > 0 && this.#queue[0].kind === "append") {
      const op = this.#queue[0] as Op & { kind: "append" };
      const start = op.entries[0]?.index ?? next;
      if (batch.length > 0 && start !== next) break;
      this.#queue.shift();
      const bad = batch.length === 0 ? this.#checkStart(op.entries) : undefined;
      if (bad) {
        op.done.reject(bad);
        continue;
      }
      if (batch.length === 0 && op.entries.length > 0 && start < next && this.#segments.length) {
        truncateFrom = start;
      }
      batch.push(op);
      blocking &&= op.blocking;
      for (const e of op.entries) entries.push(e);
      next = start + op.entries.length;
    }
    try {
      if (truncateFrom !== undefined) await this.#deleteFrom(truncateFrom, truncateFrom);
      if (entries.length > 0) await this.#write(entries, blocking);
      for (const op of batch) op.done.resolve();
    } catch (err) {
      const first = entries[0]?.index ?? 0;
      this.#fatal ??= ioError(
        `Cannot append Raft log entries ${first}..${first + entries.length - 1}`,
        err,
      );
      for (const op of batch) op.done.reject(this.#fatal);
    }
  }

  /** A caller bug in the first append of a batch, or undefined when it may proceed. */
  #checkStart(entries: readonly Entry[]): Error | undefined {
    if (entries.length === 0) return undefined;
    const start = entries[0].index;
    const last = this.lastIndex();
    if (!Number.isSafeInteger(start) || start < 1) {
      return new Error(`Cannot append entry ${start} to the Raft log: indexes start at 1`);
    }
    if (this.#segments.length === 0) return undefined; // an empty log starts anywhere
    if (start > last + 1) {
      return new Error(`Cannot append entry ${start} to the Raft log: it ends at index ${last}`);
    }
    if (start < this.#first) {
      return new Error(
        `Cannot append entry ${start} to the Raft log: entries before ${this.#first} are compacted`,
      );
    }
    const prevTerm = this.term(start - 1);
    if (prevTerm !== undefined && entries[0].term < prevTerm) {
      return new Error(
        `Cannot append entry ${start} with term ${entries[0].term} after term ${prevTerm}`,
      );
    }
    return undefined;
  }

  /** Write `entries` after the last one: one write and one fdatasync per segment touched. */
  async #write(entries: readonly Entry[], blocking: boolean): Promise<void> {
    let i = 0;
    while (i < entries.length) {
      let seg = this.#segments.at(-1);
      if (!seg || (seg.bytes > 0 && seg.bytes + recordBytes(entries[i]) > this.#segmentBytesMax)) {
        seg = await this.#roll(entries[i].index);
      }
      const offsets: number[] = [];
      const terms: number[] = [];
      let bytes = seg.bytes;
      const start = i;
      // At least one record per segment, so an entry larger than the limit still fits somewhere.
      while (
        i < entries.length &&
        (i === start || bytes + recordBytes(entries[i]) <= this.#segmentBytesMax)
      ) {
        offsets.push(bytes);
        terms.push(entries[i].term);
        bytes += recordBytes(entries[i]);
        i++;
      }
      const file = this.#active!;
      await this.#zeros!.beforeWrite(bytes);
      const chunk = start === 0 && i === entries.length ? entries : entries.slice(start, i);
      writeAllSync(file, encodeRecords(chunk, this.#scratchFor(bytes - seg.bytes)));
      this.#beforeSync();
      if (blocking) file.syncDataSync(); // on this thread, holding the event loop
      else await file.syncData(); // on a worker thread
      this.#afterSync(seg.path, bytes);
      this.#zeros!.afterWrite(bytes);
      // Only now, durable, does the segment own them (lastIndex() reports durable entries).
      for (let k = 0; k < offsets.length; k++) {
        seg.offsets.push(offsets[k]);
        seg.terms.push(terms[k]);
      }
      seg.bytes = bytes;
    }
  }

  /**
   * The buffer appends are encoded into, grown to fit `bytes` up to `SCRATCH_BYTES_MAX`
   * (undefined past it: a fresh buffer then). A write is synchronous (`writeAllSync`), so one
   * buffer serves every append: a fresh one per append (tens of KB on a busy leader) was an
   * allocation, zero-filling and, under the node's malloc settings, a mapping of its own.
   */
  #scratchFor(bytes: number): Uint8Array | undefined {
    if (bytes > SCRATCH_BYTES_MAX) return undefined;
    if (this.#scratch.byteLength < bytes) {
      this.#scratch = new Uint8Array(Math.min(SCRATCH_BYTES_MAX, 2 ** Math.ceil(Math.log2(bytes))));
    }
    return this.#scratch;
  }

  /** Seal the active segment, cut to its records, and start one whose first is `firstIndex`. */
  async #roll(firstIndex: number): Promise<Segment> {
    const sealed = this.#segments.at(-1);
    await this.#zeros?.settle();
    if (this.#active && sealed && this.#zeros?.pastRecords(sealed.bytes)) {
      await this.#active.truncate(sealed.bytes);
      this.#beforeSync();
      await this.#active.syncData();
    }
    await this.#closeFiles();
    const path = `${this.#dir}/${segmentName(firstIndex)}`;
    this.#active = await Deno.open(path, { read: true, write: true, create: true, truncate: true });
    this.#zeros = new ZerosAhead(path, 0, this.#segmentBytesMax);
    await syncDir(this.#dir); // the new name must survive a crash before its records are acked
    const seg: Segment = { firstIndex, path, offsets: [], terms: [], bytes: 0 };
    if (this.#segments.length === 0) this.#first = firstIndex;
    this.#segments.push(seg);
    return seg;
  }

  /**
   * Durably remove entries `>= fromIndex`; when none remain, the next is `nextIndex`. Whole
   * segments go newest first, each unlink synced, so a crash leaves a prefix of the old log
   * (never a gap); then the segment holding `fromIndex` is cut and fdatasync'ed before any
   * later write, so old records can never reappear behind new ones.
   */
  async #deleteFrom(fromIndex: number, nextIndex: number): Promise<void> {
    while (this.#segments.length > 0 && this.#segments.at(-1)!.firstIndex >= fromIndex) {
      const seg = this.#segments.pop()!;
      await this.#closeFiles();
      this.#reads.forget(seg.path);
      await Deno.remove(seg.path);
      await syncDir(this.#dir);
    }
    const last = this.#segments.at(-1);
    if (!last) {
      this.#first = nextIndex;
      await writeEmptyLogStart(this.#dir, nextIndex);
      return;
    }
    if (this.#active === undefined) await this.#openActive(last);
    const keep = fromIndex - last.firstIndex;
    if (keep < last.offsets.length) {
      const bytes = last.offsets[keep];
      const [file, zeros] = [this.#active!, this.#zeros!];
      await zeros.settle();
      await file.truncate(bytes);
      zeros.cut(bytes);
      this.#beforeSync();
      await file.syncData();
      this.#afterSync(last.path, bytes);
      await file.seek(bytes, Deno.SeekMode.Start);
      last.offsets.length = keep;
      last.terms.length = keep;
      last.bytes = bytes;
    }
  }

  /** Forget entries `<= throughIndex`; delete segments wholly covered, oldest first. */
  async #compact(throughIndex: number): Promise<void> {
    if (throughIndex < this.#first) return;
    if (throughIndex >= this.lastIndex()) {
      // Oldest first: a crash leaves a suffix of the log, all of it covered by the snapshot.
      while (this.#segments.length > 0) await this.#removeOldest();
      this.#first = throughIndex + 1;
      await writeEmptyLogStart(this.#dir, this.#first);
      return;
    }
    while (this.#segments.length > 1 && segmentLastIndex(this.#segments[0]) <= throughIndex) {
      await this.#removeOldest();
    }
    this.#first = throughIndex + 1;
  }

  async #removeOldest(): Promise<void> {
    const seg = this.#segments.shift()!;
    if (this.#segments.length === 0) await this.#closeFiles();
    this.#reads.forget(seg.path);
    await Deno.remove(seg.path);
    await syncDir(this.#dir);
  }

  #segmentOf(index: number): Segment {
    let lo = 0;
    let hi = this.#segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#segments[mid].firstIndex <= index) lo = mid;
      else hi = mid - 1;
    }
    return this.#segments[lo];
  }

  /** Open `seg` (the newest, ending with its records) to append to. */
  async #openActive(seg: Segment): Promise<void> {
    this.#active = await openForAppend(seg);
    this.#zeros = new ZerosAhead(seg.path, seg.bytes, this.#segmentBytesMax);
  }

  /** Close the active segment's handles, once an extension in flight has settled. */
  async #closeFiles(): Promise<void> {
    await this.#zeros?.close();
    this.#zeros = undefined;
    this.#active?.close();
    this.#active = undefined;
  }
}

const noSettle: Settle = { resolve() {}, reject() {} };

function stoppedError(cause: Error): Error {
  return new Error(`Raft log stopped after an earlier I/O failure: ${cause.message}`, { cause });
}

/**
 * An empty log remembers where it starts in a small file, written after its last segment is
 * gone (so a crash in between only forgets the start, and an empty log accepts any start), and
 * read only when no segment exists.
 */
const EMPTY_LOG_START_FILE = "empty_log_start";

async function writeEmptyLogStart(dir: string, first: number): Promise<void> {
  await writeFileAtomic(dir, EMPTY_LOG_START_FILE, new TextEncoder().encode(`${first}\n`));
}

async function readEmptyLogStart(dir: string): Promise<number> {
  const bytes = await readFileIfExists(`${dir}/${EMPTY_LOG_START_FILE}`);
  const first = bytes ? Number(new TextDecoder().decode(bytes).trim()) : 1;
  // A torn or odd file only loses a hint: the empty log accepts any start anyway.
  return Number.isSafeInteger(first) && first >= 1 ? first : 1;
}

async function openForAppend(seg: Segment): Promise<Deno.FsFile> {
  const file = await Deno.open(seg.path, { read: true, write: true });
  await file.seek(seg.bytes, Deno.SeekMode.Start);
  return file;
}
