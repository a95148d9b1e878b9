/**
 * The log record format, shared by the segment writer and the recovery scan.
 *
 * A record is `crc u32 LE | len u32 LE | payload (len bytes)`, where `crc` is the CRC32C of
 * everything after it (the four `len` bytes and the payload, contiguous so one pass checks
 * both), and the payload is
 * `index u64 LE | term u64 LE | kind u8 | data`. A hand-written layout rather than msgpackr: it
 * is fixed (no format drift between library versions), needs no `--allow-env`, and encodes a
 * batch straight into one buffer without an intermediate object per entry.
 *
 * @module
 */

import type { Entry, EntryKind } from "../raft/mod.ts";
import { crc32c } from "./crc32c.ts";

/** Bytes before the payload: checksum and length. */
export const RECORD_HEADER_BYTES = 8;
/** Bytes of the payload before the entry data: index, term, kind. */
export const PAYLOAD_FIXED_BYTES = 17;
/** Largest payload a record may claim; a larger length is damage, not a record. */
export const RECORD_PAYLOAD_BYTES_MAX = 256 * 1024 * 1024;

const TWO_32 = 2 ** 32;

/** Bytes `entry` takes on disk. */
export function recordBytes(entry: Entry): number {
  return RECORD_HEADER_BYTES + PAYLOAD_FIXED_BYTES + entry.data.length;
}

/** Encode `entry` into `buf` at `offset`; returns the offset after the record. */
export function encodeRecord(
  buf: Uint8Array,
  view: DataView,
  offset: number,
  entry: Entry,
): number {
  const payloadBytes = PAYLOAD_FIXED_BYTES + entry.data.length;
  const p = offset + RECORD_HEADER_BYTES;
  view.setUint32(offset + 4, payloadBytes, true);
  view.setUint32(p, entry.index % TWO_32, true);
  view.setUint32(p + 4, Math.floor(entry.index / TWO_32), true);
  view.setUint32(p + 8, entry.term % TWO_32, true);
  view.setUint32(p + 12, Math.floor(entry.term / TWO_32), true);
  buf[p + 16] = entry.kind;
  buf.set(entry.data, p + PAYLOAD_FIXED_BYTES);
  const end = p + payloadBytes;
  view.setUint32(offset, crc32c(buf, 0, offset + 4, end), true);
  return end;
}

/**
 * Encode `entries` into one buffer (one write for a whole batch): the front of `scratch` when it
 * is large enough (every byte of the records is written, so nothing stale is left in them), else
 * a fresh buffer.
 */
export function encodeRecords(entries: readonly Entry[], scratch?: Uint8Array): Uint8Array {
  let total = 0;
  for (const e of entries) total += recordBytes(e);
  const buf = scratch !== undefined && scratch.byteLength >= total
    ? scratch.subarray(0, total)
    : new Uint8Array(total);
  const view = new DataView(buf.buffer, buf.byteOffset, total);
  let offset = 0;
  for (const e of entries) offset = encodeRecord(buf, view, offset, e);
  return buf;
}

/** A record header and payload fields, with the data left in place. */
export interface RecordView {
  readonly index: number;
  readonly term: number;
  readonly kind: number;
  readonly dataStart: number;
  readonly end: number;
}

export type DecodeResult =
  | { readonly ok: true; readonly record: RecordView }
  | { readonly ok: false; readonly reason: "truncated" | "bad_length" | "bad_checksum" };

/**
 * Decode and verify the record at `offset` of `buf[0, limit)`. `verified`: these bytes passed
 * this check already (the log's open scan, `Segment.scanned`), so the checksum pass is skipped.
 */
export function decodeRecord(
  buf: Uint8Array,
  view: DataView,
  offset: number,
  limit: number,
  verified = false,
): DecodeResult {
  if (offset + RECORD_HEADER_BYTES > limit) return { ok: false, reason: "truncated" };
  const payloadBytes = view.getUint32(offset + 4, true);
  if (payloadBytes < PAYLOAD_FIXED_BYTES || payloadBytes > RECORD_PAYLOAD_BYTES_MAX) {
    return { ok: false, reason: "bad_length" };
  }
  const p = offset + RECORD_HEADER_BYTES;
  const end = p + payloadBytes;
  if (end > limit) return { ok: false, reason: "truncated" };
  if (!verified && crc32c(buf, 0, offset + 4, end) !== view.getUint32(offset, true)) {
    return { ok: false, reason: "bad_checksum" };
  }
  const index = view.getUint32(p, true) + view.getUint32(p + 4, true) * TWO_32;
  const term = view.getUint32(p + 8, true) + view.getUint32(p + 12, true) * TWO_32;
  const kind = buf[p + 16];
  return { ok: true, record: { index, term, kind, dataStart: p + PAYLOAD_FIXED_BYTES, end } };
}

/**
 * An `Entry` for a verified record. Its data is a view into `buf` (no copy: one allocation per
 * entry costs more than the whole scan), so `buf` lives as long as any entry read from it; a
 * read buffer is one segment, at most `segmentBytesMax`.
 */
export function toEntry(buf: Uint8Array, r: RecordView): Entry {
  return {
    index: r.index,
    term: r.term,
    kind: r.kind as EntryKind,
    data: buf.subarray(r.dataStart, r.end),
  };
}
