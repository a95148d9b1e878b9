/**
 * Snapshots of the broker state, following hashicorp/raft's FSM contract: `captureSnapshot`
 * returns quickly with an immutable view, and the expensive encoding happens later in
 * `serialize()`, off the apply path. The view holds references to everything immutable
 * (message records' fixed fields, slabs, strings, configs, stored results) and copies only the
 * mutable fields into typed arrays. `restoreSnapshot` rebuilds the exact state; derived indexes
 * (ready order, fifo groups, timed events) are recomputed from the messages.
 *
 * Format (version 1): msgpack of plain maps; message tables are columnar, numeric columns are
 * little-endian Float64 arrays as bytes, bodies one concatenated byte string per table.
 *
 * @module
 */

import { Packr } from "msgpackr";
import type { QueueConfig, Result, TopicConfig } from "./commands.ts";
import { Channel, type Msg, type MsgState } from "./_channel.ts";
import type { IdemRecord, IdRecord, IdTable } from "./_ids.ts";
import { Topic, type TopicMsg } from "./_topic.ts";
import { BrokerState } from "./state.ts";

/** Snapshot format version; bump with a reader for the old one. */
const SNAPSHOT_VERSION = 1;
const packr = new Packr({ useRecords: false, moreTypes: false });

/** An immutable view of the state at one applied index. */
export interface SnapshotView {
  readonly index: number;
  /** Encodes the view; may run long after capture, while apply goes on. */
  serialize(): Uint8Array;
}

const ID_STATES = ["live", "acked", "dead"] as const;

interface IdsCapture {
  refs: IdRecord[];
  /** state code, attempt: the mutable fields. */
  mut: Float64Array;
}

function captureIds(ids: IdTable): IdsCapture {
  const refs = [...ids.byId.values()];
  const mut = new Float64Array(refs.length * 2);
  for (let i = 0; i < refs.length; i++) {
    mut[2 * i] = ID_STATES.indexOf(refs[i].state);
    mut[2 * i + 1] = refs[i].attempt;
  }
  return { refs, mut };
}

interface ChannelCapture {
  name: string;
  ch: Channel;
  config: QueueConfig;
  counters: number[];
  refs: Msg[];
  /** state, attempt, at, explicit id (0/1): the mutable fields. */
  mut: Float64Array;
  ids: IdsCapture;
}

function captureChannel(name: string, ch: Channel): ChannelCapture {
  const refs: Msg[] = new Array(ch.msgs.count);
  const mut = new Float64Array(ch.msgs.count * 4);
  let i = 0;
  ch.msgs.forEach((m) => {
    refs[i] = m;
    mut[4 * i] = m.state;
    mut[4 * i + 1] = m.attempt;
    mut[4 * i + 2] = m.at;
    // A record the table forgot (expired, or the id reused) no longer matters: canonical 0.
    mut[4 * i + 3] = m.rec !== undefined && ch.ids.byId.get(m.id) === m.rec ? 1 : 0;
    i++;
  });
  return {
    name,
    ch,
    config: ch.config,
    counters: [
      ch.published,
      ch.acked,
      ch.deadLettered,
      ch.retentionDropped,
      ch.nextSeq,
      ch.startSeq,
    ],
    refs,
    mut,
    ids: captureIds(ch.ids),
  };
}

interface TopicCapture {
  t: Topic;
  config: TopicConfig;
  counters: number[];
  log: TopicMsg[];
  ids: IdsCapture;
  subs: ChannelCapture[];
}

function captureTopic(t: Topic): TopicCapture {
  const log: TopicMsg[] = [];
  t.log.forEach((m) => log.push(m));
  return {
    t,
    config: t.config,
    counters: [t.nextSeq, t.published],
    log,
    ids: captureIds(t.ids),
    subs: [...t.subs].map(([n, s]) => captureChannel(n, s)),
  };
}

/** Captures the state now; `serialize()` later encodes exactly this state. */
export function captureSnapshot(state: BrokerState): SnapshotView {
  const idem = [...state.idem.byKey.values()];
  const queues = [...state.queues].map(([n, q]) => captureChannel(n, q));
  const topics = [...state.topics.values()].map(captureTopic);
  const head = [state.lastIndex, state.lastTs, state.nextOrd, state.idem.ttlMs, state.idem.keysMax];
  return {
    index: state.lastIndex,
    serialize: () =>
      packr.pack({
        v: SNAPSHOT_VERSION,
        head,
        idem: idem.map((r) => [r.key, r.fingerprint, r.result, r.expiresAt]),
        queues: queues.map((c) => encodeChannel(c, true)),
        topics: topics.map(encodeTopic),
      }),
  };
}

/** Shorthand: capture and serialize at once. */
export function snapshotBytes(state: BrokerState): Uint8Array {
  return captureSnapshot(state).serialize();
}

// ---- encoding ----

function f64Bytes(a: Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function bytesF64(b: Uint8Array): Float64Array {
  // A copy, aligned: msgpackr may hand out a Node Buffer whose slice() is a view.
  return new Float64Array(new Uint8Array(b).buffer);
}

function concatBodies(items: readonly { buf: Uint8Array; off: number; len: number }[]): Uint8Array {
  let total = 0;
  for (const m of items) total += m.len;
  const out = new Uint8Array(total);
  let at = 0;
  for (const m of items) {
    out.set(m.buf.subarray(m.off, m.off + m.len), at);
    at += m.len;
  }
  return out;
}

/** Sparse optional fields: [row, headers | null, group | null] for rows that have one. */
function extras(items: readonly { headers?: unknown; group?: string }[]): unknown[] {
  const out: unknown[] = [];
  items.forEach((m, i) => {
    if (m.headers !== undefined || m.group !== undefined) {
      out.push([i, m.headers ?? null, m.group ?? null]);
    }
  });
  return out;
}

function encodeIds(c: IdsCapture) {
  return {
    ids: c.refs.map((r) => r.id),
    nums: c.refs.flatMap((r) => [r.seq, r.expiresAt]),
    mut: f64Bytes(c.mut),
  };
}

function encodeChannel(c: ChannelCapture, withBodies: boolean) {
  const n = c.refs.length;
  const fixed = new Float64Array(n * 4);
  c.refs.forEach((m, i) => {
    fixed[4 * i] = m.seq;
    fixed[4 * i + 1] = m.len;
    fixed[4 * i + 2] = m.publishedAt;
    fixed[4 * i + 3] = m.expiresAt;
  });
  return {
    name: c.name,
    ord: c.ch.ord,
    config: c.config,
    counters: c.counters,
    fixed: f64Bytes(fixed),
    mut: f64Bytes(c.mut),
    ids: c.refs.map((m) => m.id),
    extras: extras(c.refs),
    bodies: withBodies ? concatBodies(c.refs) : null,
    idTable: encodeIds(c.ids),
  };
}

function encodeTopic(c: TopicCapture) {
  const fixed = new Float64Array(c.log.length * 6);
  c.log.forEach((m, i) => {
    fixed.set([m.seq, m.len, m.publishedAt, m.notBefore, m.ttlAt, m.explicitId ? 1 : 0], 6 * i);
  });
  return {
    name: c.t.name,
    ord: c.t.ord,
    config: c.config,
    counters: c.counters,
    fixed: f64Bytes(fixed),
    ids: c.log.map((m) => m.id),
    extras: extras(c.log),
    bodies: concatBodies(c.log),
    idTable: encodeIds(c.ids),
    subs: c.subs.map((s) => encodeChannel(s, false)),
  };
}

// ---- restoring ----

type EncodedIds = ReturnType<typeof encodeIds>;
type EncodedChannel = ReturnType<typeof encodeChannel>;
type EncodedTopic = ReturnType<typeof encodeTopic>;

function restoreIds(ids: IdTable, e: EncodedIds): void {
  const mut = bytesF64(e.mut);
  e.ids.forEach((id, i) => {
    ids.restore({
      id,
      seq: e.nums[2 * i],
      expiresAt: e.nums[2 * i + 1],
      state: ID_STATES[mut[2 * i]],
      attempt: mut[2 * i + 1],
    });
  });
}

function extrasByRow(list: unknown[]): Map<number, [Msg["headers"] | null, string | null]> {
  const out = new Map<number, [Msg["headers"] | null, string | null]>();
  for (const x of list as [number, Msg["headers"] | null, string | null][]) {
    out.set(x[0], [x[1], x[2]]);
  }
  return out;
}

function restoreChannel(state: BrokerState, c: EncodedChannel, topic: Topic | undefined): Channel {
  const ch = new Channel(c.ord, topic ? `${topic.name}/${c.name}` : c.name, c.config, state.host);
  [ch.published, ch.acked, ch.deadLettered, ch.retentionDropped, ch.nextSeq, ch.startSeq] =
    c.counters;
  restoreIds(ch.ids, c.idTable);
  const fixed = bytesF64(c.fixed);
  const mut = bytesF64(c.mut);
  const ext = extrasByRow(c.extras);
  let bodyAt = 0;
  c.ids.forEach((id, i) => {
    const seq = fixed[4 * i], len = fixed[4 * i + 1];
    let buf: Uint8Array, off: number;
    if (topic !== undefined) {
      const t = topic.log.get(seq);
      if (t === undefined) throw new Error(`Cannot restore ${ch.origin}: topic lacks seq ${seq}`);
      ({ buf, off } = t);
    } else {
      ({ buf, off } = state.slab.store(c.bodies!.subarray(bodyAt, bodyAt + len)));
      bodyAt += len;
    }
    const rec = mut[4 * i + 3] === 1 ? ch.ids.byId.get(id) : undefined;
    const [headers, group] = ext.get(i) ?? [null, null];
    const m: Msg = {
      seq,
      id,
      rec,
      buf,
      off,
      len,
      headers: headers ?? undefined,
      group: group ?? undefined,
      publishedAt: fixed[4 * i + 2],
      expiresAt: fixed[4 * i + 3],
      state: mut[4 * i] as MsgState,
      attempt: mut[4 * i + 1],
      at: mut[4 * i + 2],
    };
    ch.msgs.append(seq, m);
    ch.countRestored(m);
  });
  ch.reindex();
  state.byOrd.set(ch.ord, ch);
  return ch;
}

function restoreTopic(state: BrokerState, c: EncodedTopic): Topic {
  const t = new Topic(c.ord, c.name, c.config, state.host.schedule);
  [t.nextSeq, t.published] = c.counters;
  restoreIds(t.ids, c.idTable);
  const fixed = bytesF64(c.fixed);
  const ext = extrasByRow(c.extras);
  let bodyAt = 0;
  c.ids.forEach((id, i) => {
    const [seq, len, publishedAt, notBefore, ttlAt, explicit] = fixed.subarray(6 * i, 6 * i + 6);
    const { buf, off } = state.slab.store(c.bodies.subarray(bodyAt, bodyAt + len));
    bodyAt += len;
    const [headers, group] = ext.get(i) ?? [null, null];
    const m: TopicMsg = {
      seq,
      id,
      explicitId: explicit === 1,
      buf,
      off,
      len,
      headers: headers ?? undefined,
      group: group ?? undefined,
      publishedAt,
      notBefore,
      ttlAt,
    };
    t.log.append(seq, m);
    t.bytes += len;
  });
  for (const s of c.subs) t.subs.set(s.name, restoreChannel(state, s, t));
  t.scheduleAge();
  state.byOrd.set(t.ord, t);
  return t;
}

/** A deep copy of plain data in which every byte array is copied out of its buffer. */
function copyBytes(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(copyBytes);
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copyBytes(x)]));
  }
  return v;
}

/** Rebuilds a state from snapshot bytes. */
export function restoreSnapshot(bytes: Uint8Array): BrokerState {
  const snap = packr.unpack(bytes) as {
    v: number;
    head: number[];
    idem: [string, string, Result, number][];
    queues: EncodedChannel[];
    topics: EncodedTopic[];
  };
  if (snap?.v !== SNAPSHOT_VERSION) {
    throw new Error(`Cannot restore snapshot: unknown version ${snap?.v}`);
  }
  const [lastIndex, lastTs, nextOrd, idemTtlMs, idemKeysMax] = snap.head;
  const state = new BrokerState({ idemTtlMs, idemKeysMax });
  state.lastIndex = lastIndex;
  state.lastTs = lastTs;
  state.nextOrd = nextOrd;
  for (const [key, fingerprint, result, expiresAt] of snap.idem) {
    // Decoded bytes are views into `bytes`: copy them, or one stored receive pins the snapshot.
    const rec: IdemRecord = { key, fingerprint, result: copyBytes(result) as Result, expiresAt };
    state.idem.byKey.set(key, rec);
  }
  for (const q of snap.queues) state.queues.set(q.name, restoreChannel(state, q, undefined));
  for (const t of snap.topics) state.topics.set(t.name, restoreTopic(state, t));
  return state;
}
