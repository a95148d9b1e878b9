/**
 * Byte layouts of the hard state and snapshot files: a 4-byte magic, a version byte, fields,
 * and a trailing CRC32C of everything before it.
 *
 * @module
 */

import type { ConfState, HardState, Snapshot, SnapshotMeta } from "../raft/mod.ts";
import { crc32c } from "./crc32c.ts";

const TWO_32 = 2 ** 32;
const HARD_STATE_MAGIC = 0x53485151; // "QQHS" little-endian
const SNAPSHOT_MAGIC = 0x4e535151; // "QQSN" little-endian
const VERSION = 1;

/** A little-endian writer over a growable buffer. */
class Writer {
  buf = new Uint8Array(64);
  view = new DataView(this.buf.buffer);
  n = 0;
  #room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.#room(1);
    this.buf[this.n++] = v;
  }
  u32(v: number): void {
    this.#room(4);
    this.view.setUint32(this.n, v, true);
    this.n += 4;
  }
  u64(v: number): void {
    this.u32(v % TWO_32);
    this.u32(Math.floor(v / TWO_32));
  }
  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.#room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  str(s: string): void {
    this.bytes(new TextEncoder().encode(s));
  }
  /** Append the CRC32C of everything written and return the finished bytes. */
  finish(): Uint8Array {
    this.u32(crc32c(this.buf, 0, 0, this.n));
    return this.buf.slice(0, this.n);
  }
}

/** A little-endian reader that throws on a short buffer. */
class Reader {
  readonly view: DataView;
  n = 0;
  constructor(readonly buf: Uint8Array, readonly what: string) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  #need(k: number): void {
    if (this.n + k > this.buf.length) throw new Error(`${this.what}: the file is too short`);
  }
  u8(): number {
    this.#need(1);
    return this.buf[this.n++];
  }
  u32(): number {
    this.#need(4);
    const v = this.view.getUint32(this.n, true);
    this.n += 4;
    return v;
  }
  u64(): number {
    return this.u32() + this.u32() * TWO_32;
  }
  bytes(): Uint8Array {
    const len = this.u32();
    this.#need(len);
    const b = this.buf.slice(this.n, this.n + len);
    this.n += len;
    return b;
  }
  /** Like `bytes`, but a view into the buffer read (no copy): for a buffer the caller owns. */
  bytesView(): Uint8Array {
    const len = this.u32();
    this.#need(len);
    const b = this.buf.subarray(this.n, this.n + len);
    this.n += len;
    return b;
  }
  str(): string {
    return new TextDecoder("utf-8", { fatal: true }).decode(this.bytes());
  }
}

/** Check magic, version and the trailing checksum, then return a reader past the header. */
function open(buf: Uint8Array, magic: number, what: string): Reader {
  if (buf.length < 9) throw new Error(`${what}: the file is too short (${buf.length} bytes)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const stored = view.getUint32(buf.length - 4, true);
  if (crc32c(buf, 0, 0, buf.length - 4) !== stored) throw new Error(`${what}: checksum mismatch`);
  const r = new Reader(buf.subarray(0, buf.length - 4), what);
  if (r.u32() !== magic) throw new Error(`${what}: not a quorumq file (bad magic)`);
  const version = r.u8();
  if (version !== VERSION) throw new Error(`${what}: unknown format version ${version}`);
  return r;
}

export function encodeHardState(hs: HardState): Uint8Array {
  const w = new Writer();
  w.u32(HARD_STATE_MAGIC);
  w.u8(VERSION);
  w.u64(hs.term);
  w.u64(hs.commit);
  w.str(hs.vote);
  return w.finish();
}

/** Decode a hard state file; throws naming `what` when it is damaged. */
export function decodeHardState(buf: Uint8Array, what: string): HardState {
  const r = open(buf, HARD_STATE_MAGIC, what);
  const term = r.u64();
  const commit = r.u64();
  const vote = r.str();
  return { term, vote, commit };
}

function writeConf(w: Writer, conf: ConfState): void {
  w.u32(conf.voters.length);
  for (const v of conf.voters) w.str(v);
  w.u32(conf.learners.length);
  for (const l of conf.learners) w.str(l);
}

function readConf(r: Reader): ConfState {
  const voters = Array.from({ length: r.u32() }, () => r.str());
  const learners = Array.from({ length: r.u32() }, () => r.str());
  return { voters, learners };
}

/**
 * The bytes of a snapshot file before its data: magic, version, meta, the data's length. The
 * whole file is `head, s.data, u32 CRC32C of head and data`, so a writer can stream the data
 * and checksum it as it goes (`FileSnapshotStore.save`) without copying it into one buffer.
 */
export function encodeSnapshotHead(meta: SnapshotMeta, dataBytes: number): Uint8Array {
  if (dataBytes >= TWO_32) {
    throw new Error(`Cannot encode snapshot ${meta.index}: ${dataBytes} bytes of data`);
  }
  const w = new Writer();
  w.u32(SNAPSHOT_MAGIC);
  w.u8(VERSION);
  w.u64(meta.index);
  w.u64(meta.term);
  writeConf(w, meta.conf);
  w.u32(dataBytes);
  return w.buf.slice(0, w.n);
}

/**
 * The meta and data length of a snapshot file from its first bytes (`encodeSnapshotHead`), and
 * where its data starts. No checksum check here: the caller verifies the whole file apart
 * (`FileSnapshotStore.open` reads it in chunks). Throws naming `what` when the head is damaged.
 */
export function decodeSnapshotHead(
  head: Uint8Array,
  what: string,
): { meta: SnapshotMeta; dataOffset: number; dataBytes: number } {
  const r = new Reader(head, what);
  if (r.u32() !== SNAPSHOT_MAGIC) throw new Error(`${what}: not a quorumq file (bad magic)`);
  const version = r.u8();
  if (version !== VERSION) throw new Error(`${what}: unknown format version ${version}`);
  const index = r.u64();
  const term = r.u64();
  const conf = readConf(r);
  const dataBytes = r.u32();
  return { meta: { index, term, conf }, dataOffset: r.n, dataBytes };
}

/** The whole snapshot file in one buffer (tests; `save` streams it instead). */
export function encodeSnapshot(s: Snapshot): Uint8Array {
  const head = encodeSnapshotHead(s.meta, s.data.length);
  const out = new Uint8Array(head.length + s.data.length + 4);
  out.set(head);
  out.set(s.data, head.length);
  const crc = crc32c(out, 0, 0, out.length - 4);
  new DataView(out.buffer).setUint32(out.length - 4, crc, true);
  return out;
}

/**
 * Decode a snapshot file; throws naming `what` when it is damaged. The data is a view into
 * `buf`, not a copy: a copy of a state of hundreds of MB cost ~0.3 s of a start and held the
 * state twice in memory until the read buffer was collected. `buf` must be the caller's alone.
 */
export function decodeSnapshot(buf: Uint8Array, what: string): Snapshot {
  const r = open(buf, SNAPSHOT_MAGIC, what);
  const index = r.u64();
  const term = r.u64();
  const conf = readConf(r);
  const data = r.bytesView();
  return { meta: { index, term, conf }, data };
}
