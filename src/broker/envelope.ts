/**
 * The bytes of a Raft entry of the broker: a version byte, then msgpack. Every entry decodes on
 * its own, on any version of the code (append-only, like the commands). Two versions:
 *
 * - 1, one envelope: `{ts, wallClock?, cmd, idem?, session?, owner?}`. Every entry written
 *   before batching has this form, and a lone proposal still does (it costs nothing extra).
 * - 2, a batch: a msgpack array whose first element is the stamp `{ts, wallClock?}` and whose
 *   others are proposals `{cmd, idem?, session?, owner?}`, applied in order as if each were an
 *   entry of its own with that stamp (`BrokerState.applyEntry`). One entry then carries many
 *   proposals: one log record, one CRC, one append slot and one apply call instead of many.
 *
 * A batch is built from proposals packed one by one (`packProposal`) and framed at flush
 * (`encodeBatch`), so its size is known before the leader stamps it; `BatchBounds` say what fits.
 *
 * Every node decodes every entry with `_entry_reader.ts` alone, never msgpackr's `unpack`, whose
 * reading depends on the process (its native addon, its state): so the same bytes give the same
 * value on every node, whatever it decoded before. What that reader refuses, every node refuses.
 *
 * @module
 */

import { Packr, RESET_BUFFER_MODE } from "msgpackr";
import type { Command, Envelope, Proposal } from "./commands.ts";
import { readEntryItems, readEntryValue } from "./_entry_reader.ts";
import { packPlain } from "./_plain_pack.ts";

/** Version byte in front of a single envelope. */
const ENVELOPE_VERSION = 1;
/** Version byte in front of a batch of proposals under one stamp. */
const BATCH_VERSION = 2;

// Plain msgpack maps (no record structures): every entry decodes on its own, on any version.
const packr = new Packr({ useRecords: false, moreTypes: false });

/** Encodes an envelope for a Raft entry: a version byte, then msgpack. */
export function encodeEnvelope(envelope: Envelope): Uint8Array {
  const packed = packr.pack(envelope);
  const out = new Uint8Array(packed.length + 1);
  out[0] = ENVELOPE_VERSION;
  out.set(packed, 1);
  return out;
}

/** Decodes a single-envelope entry; throws on another version or malformed bytes. */
export function decodeEnvelope(data: Uint8Array): Envelope {
  if (data.length < 2) throw new Error(`Cannot decode envelope: ${data.length} bytes is too short`);
  if (data[0] !== ENVELOPE_VERSION) {
    throw new Error(`Cannot decode envelope: unknown version ${data[0]}`);
  }
  const value = unpackBody(data) as Envelope;
  if (typeof value !== "object" || value === null || typeof value.ts !== "number") {
    throw new Error("Cannot decode envelope: not an envelope object");
  }
  if (!hasOp(value.cmd)) throw new Error("Cannot decode envelope: the command has no op");
  return value;
}

function hasOp(cmd: unknown): cmd is Command {
  return typeof cmd === "object" && cmd !== null && typeof (cmd as Command).op === "string";
}

/** The time a leader stamped on an entry (`EntryClock.stamp`). */
export interface Stamp {
  readonly ts: number;
  readonly wallClock?: true;
}

/**
 * A decoded entry: its stamp and its proposals. `batch` is false for a version-1 entry (one
 * envelope). In a batch, an item that is not a proposal object, or that the entry reader does not
 * read, is kept as `undefined` in its place: it is refused alone, its neighbours still apply.
 */
export interface DecodedEntry {
  readonly stamp: Stamp;
  readonly batch: boolean;
  readonly items: readonly (Proposal | undefined)[];
}

/** Decodes either version; throws when the entry as a whole cannot be read. */
export function decodeEntry(data: Uint8Array): DecodedEntry {
  if (data.length >= 1 && data[0] !== BATCH_VERSION) {
    const env = decodeEnvelope(data);
    return { stamp: env, batch: false, items: [env] };
  }
  if (data.length < 2) throw new Error(`Cannot decode batch: ${data.length} bytes is too short`);
  // Each item read on its own: one the reader does not read (`UNREADABLE`) is refused alone.
  const value = readEntryItems(data, 1);
  if (value === undefined || value.length < 1) {
    throw new Error("Cannot decode batch: not an array of msgpack values");
  }
  const stamp = value[0] as Stamp;
  if (typeof stamp !== "object" || stamp === null || typeof stamp.ts !== "number") {
    throw new Error("Cannot decode batch: no stamp");
  }
  // In place of `value.slice(1).map(...)`: one array fewer per entry.
  const items: (Proposal | undefined)[] = new Array(value.length - 1);
  for (let i = 1; i < value.length; i++) {
    const p = value[i];
    items[i - 1] = typeof p === "object" && p !== null && hasOp((p as Proposal).cmd)
      ? p as Proposal
      : undefined;
  }
  return { stamp, batch: true, items };
}

/**
 * The msgpack after the version byte, read by `readEntryValue` and by nothing else: every node
 * must read an entry's bytes to the same value, and msgpackr's reading depends on the process
 * (see `_entry_reader.ts`). What the reader refuses, every node refuses (`applyEntry`).
 */
function unpackBody(data: Uint8Array): unknown {
  const read = readEntryValue(data, 1);
  if (!read.ok) throw new Error("Cannot decode envelope: not msgpack of plain data");
  return read.value;
}

/** A proposal packed on its own, waiting for a batch (see `encodeBatch`). */
export interface PackedProposal {
  readonly proposal: Proposal;
  /**
   * msgpack of the proposal (no version byte): a batch's items are these bytes as they are.
   * Always `proposalBytes(proposal)`: the leader applies `proposal` for these bytes (`ownEntry`).
   */
  readonly bytes: Uint8Array;
}

/** Packs one proposal for a batch. */
export function packProposal(proposal: Proposal): PackedProposal {
  return { proposal, bytes: proposalBytes(proposal) };
}

/** The `bytes` of `packProposal` alone (for a caller that keeps them in an object of its own). */
export function proposalBytes(proposal: Proposal): Uint8Array {
  const cmd = proposal.cmd as { messages?: unknown };
  const many = Array.isArray(cmd.messages) && cmd.messages.length >= MANY_MESSAGES;
  // Written by hand when it is plain data (the same bytes, `_plain_pack.ts`), else by msgpackr.
  return many ? packOwn(proposal) : packPlain(proposal) ?? packr.pack(proposal);
}

/** From this many messages on, a batch publish is packed by `packOwn`. */
const MANY_MESSAGES = 16;

/**
 * Bytes kept free in front of a proposal packed by `packOwn`: room for the version byte, the
 * merged map header and the stamp's keys (`{ts, wallClock: true}` packs to at most 26 bytes), so
 * `encodeLone` writes its entry there, in front of the proposal's bytes, instead of copying them.
 */
const HEADROOM = 32;

/** `packOwn`'s results whose `HEADROOM` is still free (views of a buffer of their own). */
const withHeadroom = new WeakSet<Uint8Array>();
/** `packOwn`'s results that `encodeLone` made into an entry in place: their first bytes are its. */
const spent = new WeakSet<Uint8Array>();

/**
 * msgpack of `value` in a buffer of its own, exactly its size plus `HEADROOM` in front.
 * msgpackr packs into one buffer it shares between calls and hands out views of it; a buffer
 * that fills up is replaced by a new one of at least 4 times the value's size. For a proposal of
 * many messages (a 100-message publish packs to ~30 KB) that was a fresh ~128 KB+ buffer every
 * few proposals (measured with test/bench/apply_bench.ts). Packed with `RESET_BUFFER_MODE`, the
 * shared buffer is written again from the same place next time, so the bytes are copied out
 * before anything else packs. A small proposal keeps the shared buffer's view: a copy of its
 * own costs more than it saves.
 */
function packOwn(value: unknown): Uint8Array {
  let bytes = packPlain(value, HEADROOM);
  if (bytes === undefined) {
    const shared = packr.pack(value, RESET_BUFFER_MODE);
    const own = new Uint8Array(HEADROOM + shared.length);
    own.set(shared, HEADROOM);
    bytes = own.subarray(HEADROOM);
  }
  withHeadroom.add(bytes);
  return bytes;
}

/**
 * What one entry may hold. The transport caps a message at 64 MiB and a log record at 256 MiB
 * (and an append carries several entries), so a batch stays far below both; the count keeps one
 * apply call, and what a proposer waits on behind its neighbours, short. A proposal over
 * `maxItemBytes` (a publish of many messages) already shares its entry's cost among its messages:
 * merging such proposals was measured slower (docs/broker.md, "Entries"), so each goes alone.
 */
export interface BatchBounds {
  readonly maxBytes: number;
  readonly maxItems: number;
  /** A proposal packed larger than this is an entry of its own (see `BATCH_BOUNDS`). */
  readonly maxItemBytes: number;
}

export const BATCH_BOUNDS: BatchBounds = { maxBytes: 1 << 20, maxItems: 256, maxItemBytes: 8192 };

/**
 * Whether a proposal must be an entry of its own. `session_open` answers the index of its entry
 * as the session id, and a batch gives all of its items one index: so it is never batched, and a
 * batch entry that carries one is refused (see `BrokerState.applyEntry`).
 */
export function mustGoAlone(proposal: Proposal): boolean {
  return proposal.cmd.op === "session_open";
}

/**
 * Splits proposals, in order, into the runs that go into one entry each: a run ends where the
 * next item would pass a bound, or where an item must go alone (`mustGoAlone`, or bigger than
 * `maxItemBytes`): it then gets a run of its own.
 */
export function splitRuns<T extends PackedProposal>(
  items: readonly T[],
  bounds: BatchBounds = BATCH_BOUNDS,
): T[][] {
  const runs: T[][] = [];
  let run: T[] = [];
  let bytes = 0;
  let runAlone = false;
  for (const item of items) {
    const alone = mustGoAlone(item.proposal) || item.bytes.length > bounds.maxItemBytes;
    if (
      run.length > 0 &&
      (alone || run.length >= bounds.maxItems || bytes + item.bytes.length > bounds.maxBytes ||
        runAlone)
    ) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(item);
    bytes += item.bytes.length;
    runAlone = alone;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/**
 * The bytes of one entry for a run of packed proposals under `stamp`: a lone proposal is a
 * version-1 envelope (what every entry was before batching), several are a version-2 batch.
 * A lone proposal of many messages (`packOwn`) becomes its entry in place: its first three bytes
 * are then the entry's, so it is encoded once (a batch of it later throws; a lone one again is
 * packed afresh).
 */
export function encodeEntry(stamp: Stamp, run: readonly PackedProposal[]): Uint8Array {
  if (run.length === 1) return encodeLone(stamp, run[0]);
  return encodeBatch(stamp, run);
}

/** msgpackr writes every plain object as a map 16: this byte, then the key count in 2 bytes. */
const MAP16 = 0xde;

/**
 * The version-1 envelope `{...stamp, ...proposal}` from the proposal's packed bytes: the same
 * bytes as `encodeEnvelope` writes (one map of the stamp's keys, then the proposal's), without
 * packing the proposal again (a publish of 100 messages is ~30 KB of msgpack).
 */
function encodeLone(stamp: Stamp, item: PackedProposal): Uint8Array {
  const p = item.bytes;
  if (spent.has(p)) return encodeEnvelope({ ...stamp, ...item.proposal });
  const keysOf = (b: Uint8Array) => (b[1] << 8) | b[2];
  const head = packr.pack({ ...stamp });
  // A proposal never has the stamp's keys; if one had, the spread's order would differ.
  const plain = !Object.hasOwn(item.proposal, "ts") && !Object.hasOwn(item.proposal, "wallClock");
  if (!plain || head[0] !== MAP16 || p[0] !== MAP16 || keysOf(head) + keysOf(p) > 0xffff) {
    return encodeEnvelope({ ...stamp, ...item.proposal });
  }
  const keys = keysOf(head) + keysOf(p);
  // The proposal's map header (3 bytes) gives way to the entry's header and the stamp's keys.
  const front = 1 + head.length - 3;
  const inPlace = withHeadroom.has(p) && p.byteOffset >= front;
  const out = inPlace
    ? new Uint8Array(p.buffer, p.byteOffset - front, front + p.length)
    : new Uint8Array(1 + head.length + p.length - 3);
  out[0] = ENVELOPE_VERSION;
  out[1] = MAP16;
  out[2] = keys >> 8;
  out[3] = keys & 0xff;
  out.set(head.subarray(3), 4);
  if (inPlace) {
    withHeadroom.delete(p);
    spent.add(p);
  } else out.set(p.subarray(3), 1 + head.length);
  return out;
}

/** A version-2 batch entry (see the module doc); `encodeEntry` picks the version. */
export function encodeBatch(stamp: Stamp, run: readonly PackedProposal[]): Uint8Array {
  const head = packr.pack(
    stamp.wallClock === true ? { ts: stamp.ts, wallClock: true } : {
      ts: stamp.ts,
    },
  );
  const n = run.length + 1;
  const header = n < 16 ? [0x90 | n] : n < 0x10000 ? [0xdc, n >> 8, n & 0xff] : [
    0xdd,
    (n >>> 24) & 0xff,
    (n >> 16) & 0xff,
    (n >> 8) & 0xff,
    n & 0xff,
  ];
  let size = 1 + header.length + head.length;
  for (const p of run) {
    if (spent.has(p.bytes)) throw new Error("Cannot batch a proposal already encoded in place");
    size += p.bytes.length;
  }
  const out = new Uint8Array(size);
  out[0] = BATCH_VERSION;
  out.set(header, 1);
  let at = 1 + header.length;
  out.set(head, at);
  at += head.length;
  for (const p of run) {
    out.set(p.bytes, at);
    at += p.bytes.length;
  }
  return out;
}
