/**
 * Snapshots of the broker state, following hashicorp/raft's FSM contract: `captureSnapshot`
 * returns quickly with an immutable view (a flat copy of the mutable fields; bodies, strings
 * and stored results are immutable and shared), and the expensive encoding happens later in
 * `serialize()`, off the apply path. `restoreSnapshot` rebuilds the exact state: derived indexes
 * (ready order, fifo groups, timed events) are recomputed from the messages.
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

/** Fields per captured message, flat: seq, id, explicit, buf, off, len, headers, group,
 * publishedAt, expiresAt, state, attempt, at. */
const MSG_FIELDS = 13;
/** Fields per captured id record: id, seq, state, attempt, expiresAt. */
const ID_FIELDS = 5;
/** Fields per topic message: seq, id, explicit, buf, off, len, headers, group, publishedAt,
 * notBefore, ttlAt. */
const TMSG_FIELDS = 11;

interface ChannelCapture {
  name: string;
  ord: number;
  config: QueueConfig;
  counters: number[];
  msgs: unknown[];
  ids: unknown[];
}

interface TopicCapture {
  name: string;
  ord: number;
  config: TopicConfig;
  counters: number[];
  log: unknown[];
  ids: unknown[];
  subs: ChannelCapture[];
}

/** An immutable view of the state at one applied index. */
export interface SnapshotView {
  readonly index: number;
  /** Encodes the view; may run long after capture, while apply goes on. */
  serialize(): Uint8Array;
}

function captureIds(ids: IdTable): unknown[] {
  const out: unknown[] = [];
  for (const r of ids.byId.values()) out.push(r.id, r.seq, r.state, r.attempt, r.expiresAt);
  return out;
}

function captureChannel(name: string, ch: Channel, withBodies: boolean): ChannelCapture {
  const msgs: unknown[] = [];
  for (const m of ch.msgs.values()) {
    msgs.push(
      m.seq,
      m.id,
      // A record the table forgot (expired, or the id reused) no longer matters: canonical false.
      m.rec !== undefined && ch.ids.byId.get(m.id) === m.rec,
      withBodies ? m.buf : null,
      m.off,
      m.len,
      m.headers,
      m.group,
      m.publishedAt,
      m.expiresAt,
      m.state,
      m.attempt,
      m.at,
    );
  }
  return {
    name,
    ord: ch.ord,
    config: ch.config,
    counters: [
      ch.published,
      ch.acked,
      ch.deadLettered,
      ch.retentionDropped,
      ch.nextSeq,
      ch.startSeq,
    ],
    msgs,
    ids: captureIds(ch.ids),
  };
}

function captureTopic(t: Topic): TopicCapture {
  const log: unknown[] = [];
  for (const m of t.log.values()) {
    log.push(
      m.seq,
      m.id,
      m.explicitId,
      m.buf,
      m.off,
      m.len,
      m.headers,
      m.group,
      m.publishedAt,
      m.notBefore,
      m.ttlAt,
    );
  }
  return {
    name: t.name,
    ord: t.ord,
    config: t.config,
    counters: [t.nextSeq, t.published],
    log,
    ids: captureIds(t.ids),
    subs: [...t.subs].map(([n, s]) => captureChannel(n, s, false)),
  };
}

/** Replaces every slab reference by the body bytes (done in serialize, not in capture). */
function withBodies(flat: unknown[], fields: number): unknown[] {
  const out = flat.slice();
  for (let i = 0; i < out.length; i += fields) {
    // Slab offsets depend on allocation history: never encode them.
    const buf = out[i + 3] as Uint8Array | null;
    const off = out[i + 4] as number;
    if (buf !== null) out[i + 3] = buf.subarray(off, off + (out[i + 5] as number));
    out[i + 4] = 0;
  }
  return out;
}

/** Captures the state now; `serialize()` later encodes exactly this state. */
export function captureSnapshot(state: BrokerState): SnapshotView {
  const idem = [...state.idem.byKey.values()];
  const queues = [...state.queues].map(([n, q]) => captureChannel(n, q, true));
  const topics = [...state.topics.values()].map(captureTopic);
  const head = [state.lastIndex, state.lastTs, state.nextOrd, state.idem.ttlMs, state.idem.keysMax];
  return {
    index: state.lastIndex,
    serialize(): Uint8Array {
      const encodeChannel = (c: ChannelCapture) => ({ ...c, msgs: withBodies(c.msgs, MSG_FIELDS) });
      const body = packr.pack({
        v: SNAPSHOT_VERSION,
        head,
        idem: idem.map((r) => [r.key, r.fingerprint, r.result, r.expiresAt]),
        queues: queues.map(encodeChannel),
        topics: topics.map((t) => ({
          ...t,
          log: withBodies(t.log, TMSG_FIELDS),
          subs: t.subs.map(encodeChannel),
        })),
      });
      return body;
    },
  };
}

/** Shorthand: capture and serialize at once. */
export function snapshotBytes(state: BrokerState): Uint8Array {
  return captureSnapshot(state).serialize();
}

function restoreIds(ids: IdTable, flat: unknown[]): void {
  for (let i = 0; i < flat.length; i += ID_FIELDS) {
    const r: IdRecord = {
      id: flat[i] as string,
      seq: flat[i + 1] as number,
      state: flat[i + 2] as IdRecord["state"],
      attempt: flat[i + 3] as number,
      expiresAt: flat[i + 4] as number,
    };
    ids.restore(r);
  }
}

function restoreChannel(
  state: BrokerState,
  c: ChannelCapture,
  topic: Topic | undefined,
): Channel {
  const ch = new Channel(c.ord, topic ? `${topic.name}/${c.name}` : c.name, c.config, state.host);
  [ch.published, ch.acked, ch.deadLettered, ch.retentionDropped, ch.nextSeq, ch.startSeq] =
    c.counters;
  restoreIds(ch.ids, c.ids);
  const f = c.msgs;
  for (let i = 0; i < f.length; i += MSG_FIELDS) {
    const seq = f[i] as number;
    const id = f[i + 1] as string;
    const rec = f[i + 2] ? ch.ids.byId.get(id) : undefined;
    let buf: Uint8Array, off: number;
    if (topic !== undefined) {
      const t = topic.log.get(seq);
      if (t === undefined) throw new Error(`Cannot restore ${ch.origin}: topic lacks seq ${seq}`);
      buf = t.buf;
      off = t.off;
    } else {
      ({ buf, off } = state.slab.store(f[i + 3] as Uint8Array));
    }
    const m: Msg = {
      seq,
      id,
      rec: rec !== undefined && rec.seq === seq ? rec : undefined,
      buf,
      off,
      len: f[i + 5] as number,
      headers: (f[i + 6] ?? undefined) as Msg["headers"],
      group: (f[i + 7] ?? undefined) as string | undefined,
      publishedAt: f[i + 8] as number,
      expiresAt: f[i + 9] as number,
      state: f[i + 10] as MsgState,
      attempt: f[i + 11] as number,
      at: f[i + 12] as number,
    };
    ch.msgs.append(seq, m);
    ch.countRestored(m);
  }
  ch.reindex();
  state.byOrd.set(ch.ord, ch);
  return ch;
}

function restoreTopic(state: BrokerState, c: TopicCapture): Topic {
  const t = new Topic(c.ord, c.name, c.config, state.host.schedule);
  [t.nextSeq, t.published] = c.counters;
  restoreIds(t.ids, c.ids);
  const f = c.log;
  for (let i = 0; i < f.length; i += TMSG_FIELDS) {
    const { buf, off } = state.slab.store(f[i + 3] as Uint8Array);
    const m: TopicMsg = {
      seq: f[i] as number,
      id: f[i + 1] as string,
      explicitId: f[i + 2] as boolean,
      buf,
      off,
      len: f[i + 5] as number,
      headers: (f[i + 6] ?? undefined) as TopicMsg["headers"],
      group: (f[i + 7] ?? undefined) as string | undefined,
      publishedAt: f[i + 8] as number,
      notBefore: f[i + 9] as number,
      ttlAt: f[i + 10] as number,
    };
    t.log.append(m.seq, m);
    t.bytes += m.len;
  }
  for (const s of c.subs) t.subs.set(s.name, restoreChannel(state, s, t));
  t.scheduleAge();
  state.byOrd.set(t.ord, t);
  return t;
}

/** Rebuilds a state from snapshot bytes. */
export function restoreSnapshot(bytes: Uint8Array): BrokerState {
  const snap = packr.unpack(bytes) as {
    v: number;
    head: number[];
    idem: [string, string, Result, number][];
    queues: ChannelCapture[];
    topics: TopicCapture[];
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
    const rec: IdemRecord = { key, fingerprint, result, expiresAt };
    state.idem.byKey.set(key, rec);
  }
  for (const q of snap.queues) state.queues.set(q.name, restoreChannel(state, q, undefined));
  for (const t of snap.topics) state.topics.set(t.name, restoreTopic(state, t));
  return state;
}
