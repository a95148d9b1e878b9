/**
 * Opening the file log: list the segments, verify every record, repair a torn tail, and refuse
 * damage anywhere else (docs/reliability.md item 9: truncate a torn tail, stop on damage in the
 * middle, never skip it and carry on).
 *
 * @module
 */

import { decodeRecord, PAYLOAD_FIXED_BYTES, RECORD_HEADER_BYTES } from "./_record.ts";
import { ioError, readWhole, syncDir } from "./_fs.ts";

/** One segment file: the records it holds, by position. Invariant: it holds at least one. */
export interface Segment {
  /** Index of its first record, also its file name. */
  readonly firstIndex: number;
  readonly path: string;
  /** Byte offset of record `firstIndex + i`. */
  offsets: number[];
  /** Term of record `firstIndex + i`. */
  terms: number[];
  /** Bytes of valid records; the file's size. */
  bytes: number;
  /**
   * The file's bytes as the scan read and verified them (every record's checksum and index), for
   * the log's first `load()` to take instead of reading and verifying the file again (a second
   * CRC32C pass over the whole log at every start); dropped by that load or by the store's first
   * write, whichever comes first (`FileLogStore`).
   */
  scanned?: Uint8Array;
}

/** Damage in the middle of the log: the node must not start (and must not vote or lead). */
export class LogCorruptionError extends Error {
  constructor(
    readonly path: string,
    readonly offset: number,
    detail: string,
  ) {
    super(
      `Cannot open the Raft log: ${path} is damaged at byte ${offset} (${detail}); ` +
        `refusing to start. Restore this node's data from a healthy peer.`,
    );
    this.name = "LogCorruptionError";
  }
}

const NAME_RE = /^(\d{20})\.seg$/;

/** The file name of the segment whose first record is `firstIndex`: sorts by index. */
export function segmentName(firstIndex: number): string {
  return `${String(firstIndex).padStart(20, "0")}.seg`;
}

/** Last index held by `s`. */
export function segmentLastIndex(s: Segment): number {
  return s.firstIndex + s.offsets.length - 1;
}

/**
 * Scan `dir`'s segments in index order and return them verified. A torn tail of the last
 * segment is truncated (fdatasync'ed) and reported through `log`; a last segment left empty is
 * deleted. Throws `LogCorruptionError` on damage elsewhere or a gap between segments.
 */
export async function openSegments(dir: string, log: (msg: string) => void): Promise<Segment[]> {
  const firsts: number[] = [];
  for await (const e of Deno.readDir(dir)) {
    const m = e.isFile ? NAME_RE.exec(e.name) : null;
    if (m) firsts.push(Number(m[1]));
  }
  firsts.sort((a, b) => a - b);
  const segments: Segment[] = [];
  let prevTerm = 0;
  for (let i = 0; i < firsts.length; i++) {
    const path = `${dir}/${segmentName(firsts[i])}`;
    const isLast = i === firsts.length - 1;
    const prev = segments.at(-1);
    if (prev && segmentLastIndex(prev) + 1 !== firsts[i]) {
      throw new LogCorruptionError(
        path,
        0,
        `gap: the previous segment ends at index ${segmentLastIndex(prev)}, this one starts at ` +
          `${firsts[i]}`,
      );
    }
    const seg = await scanSegment(path, firsts[i], prevTerm, isLast, log);
    if (seg.offsets.length === 0) {
      if (!isLast) throw new LogCorruptionError(path, 0, "an empty segment before the last one");
      log(`Raft log: deleting ${path}, empty after recovery`);
      await Deno.remove(path);
      await syncDir(dir);
      continue;
    }
    prevTerm = seg.terms[seg.terms.length - 1];
    segments.push(seg);
  }
  return segments;
}

async function scanSegment(
  path: string,
  firstIndex: number,
  prevTerm: number,
  isLast: boolean,
  log: (msg: string) => void,
): Promise<Segment> {
  const buf = await readWhole(path);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const seg: Segment = { firstIndex, path, offsets: [], terms: [], bytes: 0 };
  let offset = 0;
  let term = prevTerm;
  while (offset < buf.length) {
    const r = decodeRecord(buf, view, offset, buf.length);
    if (!r.ok) {
      const expectedIndex = firstIndex + seg.offsets.length;
      if (!isLast) throw new LogCorruptionError(path, offset, `${r.reason} in a sealed segment`);
      // Zeros alone are the space the store writes ahead of its records (file_log_store.ts, up
      // to 1 MiB): no record verifies in them (its index would read 0, below any expected), so
      // the byte-by-byte search for one is skipped (~15 ms of every start, with the test below
      // as a callback per byte).
      const zerosOnly = allZero(buf, offset);
      if (!zerosOnly && findValidRecordAfter(buf, view, offset, expectedIndex)) {
        throw new LogCorruptionError(path, offset, `${r.reason}, and valid records follow`);
      }
      if (!zerosOnly) {
        log(
          `Raft log: truncating a torn tail of ${path} at byte ${offset} (${r.reason}; ` +
            `${buf.length - offset} bytes dropped, log ends at index ${expectedIndex - 1})`,
        );
      }
      await truncateFile(path, offset);
      break;
    }
    const expected = firstIndex + seg.offsets.length;
    if (r.record.index !== expected || r.record.term < term) {
      throw new LogCorruptionError(
        path,
        offset,
        `record holds index ${r.record.index} term ${r.record.term}, expected index ${expected} ` +
          `with term >= ${term}`,
      );
    }
    term = r.record.term;
    seg.offsets.push(offset);
    seg.terms.push(term);
    offset = r.record.end;
  }
  seg.bytes = offset;
  seg.scanned = buf.subarray(0, offset);
  return seg;
}

/** Whether every byte of `buf` from `from` on is zero. */
function allZero(buf: Uint8Array, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Whether a record that verifies follows `from`: then the bad bytes at `from` are damage in the
 * middle, not a torn tail. Looks at every byte offset (the damage may have hit a length field),
 * checking the cheap plausibility of the index before the checksum.
 */
function findValidRecordAfter(
  buf: Uint8Array,
  view: DataView,
  from: number,
  expectedIndex: number,
): boolean {
  const minBytes = RECORD_HEADER_BYTES + PAYLOAD_FIXED_BYTES;
  const indexMax = expectedIndex + Math.ceil((buf.length - from) / minBytes);
  for (let o = from + 1; o + minBytes <= buf.length; o++) {
    const p = o + RECORD_HEADER_BYTES;
    const index = view.getUint32(p, true) + view.getUint32(p + 4, true) * 2 ** 32;
    if (index < expectedIndex || index > indexMax) continue;
    if (decodeRecord(buf, view, o, buf.length).ok) return true;
  }
  return false;
}

async function truncateFile(path: string, bytes: number): Promise<void> {
  const file = await Deno.open(path, { read: true, write: true });
  try {
    await file.truncate(bytes);
    await file.syncData();
  } catch (err) {
    throw ioError(`Cannot truncate the torn tail of ${path} at byte ${bytes}`, err);
  } finally {
    file.close();
  }
}
