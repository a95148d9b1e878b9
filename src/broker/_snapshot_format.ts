/**
 * The byte layout of broker snapshots, version 2. Folder-private.
 *
 * ```
 * snapshot := "QQBS" version:u8 frame*
 * frame    := length:u32 LE, payload (length bytes)
 * ```
 *
 * Payloads, in order (each a msgpack array whose first element names the part, except the raw
 * body frames):
 *
 * - `["head", lastIndex, lastTs, nextOrd, idemTtlMs, idemKeysMax, nIdem, nQueues, nTopics,
 *   sessionsMax, sessionBytesMax, exactlyOnceBytesMax, nSessions]` (the last four were added
 *   with sessions; a head without them had no sessions)
 * - `["idem", [[key, fingerprint, result, expiresAt], ...]]` until nIdem records were given
 * - `["sessions", [row, ...]]` until nSessions rows were given (`_snapshot_sessions.ts`)
 * - per queue: `["channel", name, ord, config, counters, nIds, nMsgs]` (counters: published, acked,
 *   deadLettered, retentionDropped, nextSeq, startSeq, delivered; a snapshot from before
 *   `delivered` has the first six and restores it as 0), then
 *   `["ids", ids, [seq, expiresAt, ...], mut]` until nIds records, then
 *   `["msgs", fixed, mut, ids, extras]` each followed by a raw frame of its bodies, until nMsgs
 * - per topic: `["topic", name, ord, config, counters, nIds, nMsgs, nSubs]`, its `"ids"` parts,
 *   `["tmsgs", fixed, ids, extras]` + raw bodies frames, then each subscription as a channel
 *   whose `"msgs"` parts have no bodies frame (they share the topic's bodies)
 * - per topic with retained messages, claims or slots: `["topicx", name, retainedRows, claimRows,
 *   nextClaimNo, slotRows]` (`_retained.ts`, `_claims.ts`; absent in snapshots from before them)
 * - `["end"]`, and nothing after it
 *
 * `extras` are the sparse optional fields of rows: `[row, headers | null, group | null]`, plus a
 * fourth element, the subject, on rows published with one. A subscription's routing (`filters`,
 * `headers`) is part of its `config`; the routing index is rebuilt from it on restore.
 *
 * Counts in the headers let the reader know what comes next, and the closing part catches a
 * truncated snapshot. No checksum here: the snapshot store and the transport checksum the bytes.
 *
 * @module
 */

import { Packr, RESET_BUFFER_MODE } from "msgpackr";
import { readEntryValue } from "./_entry_reader.ts";

/** Snapshot format version. Bump it, with a reader for the old one once one was deployed. */
export const SNAPSHOT_VERSION = 2;
const MAGIC = [0x51, 0x51, 0x42, 0x53]; // "QQBS"

/** Most messages in one part: packing or restoring one part takes ~0.3 ms warm, a few ms cold. */
export const MSGS_PER_PART = 1024;
/** A part also ends once its bodies reach this many bytes (large messages). */
export const BODY_BYTES_PER_PART = 1 << 18;
/** Dedup id records in one part. */
export const IDS_PER_PART = 8192;
/** Idempotency records in one part (a stored result may hold a received batch). */
export const IDEM_PER_PART = 256;

const packr = new Packr({ useRecords: false, moreTypes: false });

/**
 * msgpack of `v`, in a buffer of its own, exactly its size (safe to keep). msgpackr packs into
 * one buffer it shares between calls and hands out views of it, and replaces a full one with a
 * new one of at least 4 times the value's size: a snapshot's ~4,000 parts went through a fresh
 * ~256 KB buffer every few parts, which lived across several parts, so the young generation
 * promoted it and only a full collection freed it (~100 MB of garbage array buffers per snapshot
 * at 1,000,000 messages with a young generation of 8 MB semi-spaces, docs/storage.md "Memory").
 * Packed with `RESET_BUFFER_MODE`, the shared buffer is written again from the same place next
 * time, so the bytes are copied out first; the copy dies young, once written.
 */
export function pack(v: unknown): Uint8Array {
  return new Uint8Array(packr.pack(v, RESET_BUFFER_MODE));
}

/**
 * A part's value, read by the entry reader (`readEntryValue`) alone, as entries are: a snapshot
 * is replicated data (a follower restores the leader's), and msgpackr's reading of the same bytes
 * differs between processes (without its native extractor, as `deno task start` runs, its JS
 * reader drops a leading U+FEFF from strings over 64 bytes; `_entry_reader.ts`). The reader reads
 * all that `pack` writes of the plain values a snapshot holds; anything else is a snapshot this
 * code did not write, refused the same way on every node.
 */
export function unpack(b: Uint8Array): unknown {
  const read = readEntryValue(b, 0);
  if (!read.ok) throw new Error("Snapshot part is not msgpack of plain data");
  return read.value;
}

export function snapshotPreamble(): Uint8Array {
  return new Uint8Array([...MAGIC, SNAPSHOT_VERSION]);
}

/** One frame as two parts, the length and the payload, so the payload is not copied here. */
export function* frame(payload: Uint8Array): Generator<Uint8Array, void, void> {
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, payload.length, true);
  yield len;
  yield payload;
}

/** Concatenates every part of a generator into one buffer. */
export function concatParts(parts: Iterable<Uint8Array>): Uint8Array {
  const list = [...parts];
  let total = 0;
  for (const p of list) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of list) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function f64Bytes(a: Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function bytesF64(b: Uint8Array, what: string): Float64Array {
  if (b.byteLength % 8 !== 0) throw new Error(`${what}: a number column of ${b.byteLength} bytes`);
  // A copy, aligned: msgpackr may hand out a Node Buffer whose slice() is a view.
  return new Float64Array(new Uint8Array(b).buffer);
}

/**
 * Where a snapshot's bytes are read from: the bytes themselves, or a reader of a stored snapshot
 * (a file) that hands out byte ranges on demand, so a restore never holds the whole snapshot.
 * A `Uint8Array` is one.
 */
export interface SnapshotSource {
  readonly byteLength: number;
  /** Bytes [start, end): a view or a fresh copy, never changed afterwards by the source. */
  subarray(start: number, end: number): Uint8Array;
  /** Optional: bytes [start, start + out.length) read into `out` (see `FrameReader`). */
  readInto?(start: number, out: Uint8Array): void;
}

/**
 * Bytes read from a source that is not in memory, at least, per read: a few hundred frames'
 * worth, so a restore from a file makes ~90 reads for 360 MB and holds ~4 MiB of it at a time.
 */
export const READ_WINDOW_BYTES = 4 << 20;

/**
 * Reads frames and parts in order; every error names the snapshot restore. From a `Uint8Array`
 * every frame is a view of it; from another source the reader holds one window of the bytes
 * (`windowBytes`, or one frame if larger). A source that reads into a given buffer (`readInto`,
 * a snapshot file) has every window of `windowBytes` or less read into one buffer, reused: a
 * frame (`raw`) is then valid only until the next `raw` or `part`, and a caller that keeps
 * bytes copies them (every restore does: bodies, stored answers, number columns). A fresh
 * buffer per window cost a 1,000,000-message restore ~0.4 s of CPU in page faults on new
 * memory, and the collector ran for the external memory. Without `readInto`, each window is a
 * buffer of its own, so a frame kept pins its window, never the whole snapshot.
 */
export class FrameReader {
  readonly #inMemory: boolean;
  /** The bytes at [#winStart, #winStart + #win.length). */
  #win: Uint8Array;
  #winStart = 0;
  #view: DataView;
  /** The absolute offset of the next frame. */
  #at = 0;
  /** The buffer windows are read into when the source has `readInto` (made on first use). */
  #reused: Uint8Array | undefined;

  constructor(readonly source: SnapshotSource, readonly windowBytes = READ_WINDOW_BYTES) {
    this.#inMemory = source instanceof Uint8Array;
    this.#win = this.#inMemory ? source as Uint8Array : new Uint8Array(0);
    this.#view = new DataView(this.#win.buffer, this.#win.byteOffset, this.#win.byteLength);
    const head = this.#bytes(0, 5);
    const magic = head !== undefined && MAGIC.every((b, i) => head[i] === b);
    if (!magic) throw new Error("Cannot restore snapshot: not a broker snapshot (bad magic)");
    if (head[4] !== SNAPSHOT_VERSION) {
      throw new Error(
        `Cannot restore snapshot: unknown version ${
          head[4]
        } (this build reads ${SNAPSHOT_VERSION})`,
      );
    }
    this.#at = 5;
  }

  /** The snapshot's size in bytes. */
  get byteLength(): number {
    return this.source.byteLength;
  }

  /** Bytes [at, at + n) as a view of the window (read anew when outside it); undefined past the end. */
  #bytes(at: number, n: number): Uint8Array | undefined {
    if (at + n > this.source.byteLength) return undefined;
    const winEnd = this.#winStart + this.#win.length;
    if (at < this.#winStart || at + n > winEnd) {
      const end = Math.min(this.source.byteLength, at + Math.max(n, this.windowBytes));
      if (this.source.readInto !== undefined && end - at <= this.windowBytes) {
        this.#reused ??= new Uint8Array(this.windowBytes);
        this.#win = this.#reused.subarray(0, end - at);
        this.source.readInto(at, this.#win);
      } else this.#win = this.source.subarray(at, end);
      if (this.#win.length !== end - at) {
        throw new Error(`Cannot restore snapshot: read ${this.#win.length} of ${end - at} bytes`);
      }
      this.#winStart = at;
      this.#view = new DataView(this.#win.buffer, this.#win.byteOffset, this.#win.byteLength);
    }
    return this.#win.subarray(at - this.#winStart, at - this.#winStart + n);
  }

  /** The next frame's payload (a view into the snapshot bytes, or into the window read). */
  raw(): Uint8Array {
    const lenBytes = this.#bytes(this.#at, 4);
    if (lenBytes === undefined) {
      throw new Error(`Cannot restore snapshot: truncated at byte ${this.#at}`);
    }
    const len = this.#view.getUint32(this.#at - this.#winStart, true);
    const start = this.#at + 4;
    const payload = this.#bytes(start, len);
    if (payload === undefined) {
      throw new Error(`Cannot restore snapshot: a frame at byte ${this.#at} overruns it`);
    }
    this.#at = start + len;
    return payload;
  }

  /** The next part, which must be named `tag`; returns its fields after the name. */
  part(tag: string): unknown[] {
    const v = unpack(this.raw());
    if (!Array.isArray(v) || v[0] !== tag) {
      const found = Array.isArray(v) ? String(v[0]) : typeof v;
      throw new Error(`Cannot restore snapshot: expected a "${tag}" part, found "${found}"`);
    }
    return v.slice(1);
  }

  /** The next part, whatever its name (the first element). */
  anyPart(): unknown[] {
    const v = unpack(this.raw());
    if (!Array.isArray(v)) throw new Error(`Cannot restore snapshot: a part is a ${typeof v}`);
    return v;
  }

  /** Asserts that every byte was read. */
  end(): void {
    if (this.#at !== this.source.byteLength) {
      throw new Error(
        `Cannot restore snapshot: ${this.source.byteLength - this.#at} bytes after its end part`,
      );
    }
  }
}
