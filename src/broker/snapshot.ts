/**
 * Snapshots of the broker state, following hashicorp/raft's FSM contract: `captureSnapshot`
 * returns quickly with an immutable view, and the expensive encoding happens later, off the
 * apply path. The view holds references to everything immutable (slabs, strings, configs, stored
 * results) and shares the message stores' and id tables' column blocks with the live state:
 * those copy a block once before writing a row a capture holds (copy-on-write), so a capture
 * costs a step per block, not a copy of every message.
 * `restoreSnapshot` rebuilds the exact state; derived indexes (ready order, fifo groups, timed
 * events) are recomputed from the messages.
 *
 * Both directions work in bounded steps, so a node can snapshot or restore millions of messages
 * without stalling its event loop: `view.parts()` yields the encoding part by part, and
 * `restoreSteps(bytes)` restores part by part. Each step packs or unpacks at most
 * `MSGS_PER_PART` messages or `BODY_BYTES_PER_PART` bytes of bodies (a few ms). This module stays
 * synchronous and pure (no timers, no async, like the rest of the broker): the caller decides
 * when to give the event loop a turn between steps.
 *
 * Format (version 2, see `_snapshot_format.ts`): a magic and a version byte, then frames
 * `[u32 LE length][payload]`. Most payloads are a msgpack array whose first element names the
 * part; message tables are columnar, split into chunks, numeric columns are little-endian
 * Float64 arrays as bytes, and a chunk's bodies follow it as one raw frame.
 *
 * @module
 */

import type { QueueConfig, TopicConfig } from "./commands.ts";
import type { Channel } from "./_channel.ts";
import type { IdemRecord } from "./_ids.ts";
import { type IdCapture, idOfSlot, isCurrentSlot, wasCurrent } from "./_id_table.ts";
import { isLiveSlot, type MsgColumns, msgIdOf } from "./_msg_store.ts";
import type { Topic, TopicMsg } from "./_topic.ts";
import type { BrokerState } from "./state.ts";
import type { RetainedRow } from "./_retained.ts";
import type { ClaimRow, SlotRow } from "./_claims.ts";
import { type SessionRow, sessionRow, SESSIONS_PER_PART } from "./_snapshot_sessions.ts";
import {
  BODY_BYTES_PER_PART,
  concatParts,
  f64Bytes,
  frame,
  IDEM_PER_PART,
  IDS_PER_PART,
  MSGS_PER_PART,
  pack,
  snapshotPreamble,
} from "./_snapshot_format.ts";

export { restoreSnapshot, restoreSteps } from "./_snapshot_restore.ts";
export { SNAPSHOT_VERSION, type SnapshotSource } from "./_snapshot_format.ts";

/** An immutable view of the state at one applied index. */
export interface SnapshotView {
  readonly index: number;
  /**
   * The encoding, part by part: their concatenation is the snapshot. Each step does a bounded
   * amount of work; it may run long after capture, while apply goes on.
   */
  parts(): Generator<Uint8Array, void, void>;
  /**
   * `parts()` for an encoding made once: each captured block of columns is let go as soon as it
   * is encoded, so the live state writes it in place again (no copy) and a block it had already
   * copied is freed, instead of both living until the end. The view cannot encode again
   * afterwards (every way throws).
   */
  drain(): Generator<Uint8Array, void, void>;
  /** The whole encoding in one synchronous call (tests, the simulator, small states). */
  serialize(): Uint8Array;
}

/** Records or messages captured between two yields of `captureSteps` (~1–3 ms). */
const CAPTURE_STEP = 4096;

type Steps<T> = Generator<void, T, void>;

interface ChannelCapture {
  name: string;
  ord: number;
  config: QueueConfig;
  counters: number[];
  count: number;
  /** The message store's blocks, shared with it (copy-on-write): capturing copies no column. */
  blocks: MsgColumns[];
  ids: IdCapture;
}

function* captureChannel(name: string, ch: Channel): Steps<ChannelCapture> {
  const blocks = yield* ch.msgs.capture();
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
      ch.delivered,
    ],
    count: ch.msgs.count,
    blocks,
    ids: ch.ids.capture(),
  };
}

interface TopicCapture {
  name: string;
  ord: number;
  config: TopicConfig;
  counters: number[];
  log: TopicMsg[];
  ids: IdCapture;
  subs: ChannelCapture[];
  /** Retained messages and claims, when it has any (`["topicx", ...]`). */
  extra: [RetainedRow[], ClaimRow[], number, SlotRow[]] | undefined;
}

function* captureTopic(t: Topic): Steps<TopicCapture> {
  const log: TopicMsg[] = [];
  for (const m of t.log.values()) {
    log.push(m);
    if (log.length % CAPTURE_STEP === 0) yield;
  }
  const ids = t.ids.capture();
  const subs: ChannelCapture[] = [];
  for (const [n, s] of t.subs) subs.push(yield* captureChannel(n, s));
  return {
    name: t.name,
    ord: t.ord,
    config: t.config,
    counters: [t.nextSeq, t.published],
    log,
    ids,
    subs,
    // Kept whenever it differs from a new topic's: claim numbers given out before every claim
    // was released must not be given again by a replica restored from this snapshot.
    extra: t.retained.size + t.claims.size + t.claims.slots.size === 0 && t.claims.nextNo === 1
      ? undefined
      : [t.retained.rows(), t.claims.rows(), t.claims.nextNo, t.claims.slotRows()],
  };
}

interface StateCapture {
  head: number[];
  idem: IdemRecord[];
  sessions: SessionRow[];
  limits: number[];
  queues: ChannelCapture[];
  topics: TopicCapture[];
}

/** Captures the state now; `parts()` and `serialize()` later encode exactly this state. */
export function captureSnapshot(state: BrokerState): SnapshotView {
  const steps = captureSteps(state);
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}

/**
 * Captures the state in bounded steps (each ~`CAPTURE_STEP` records or messages); the view is the
 * generator's return value. The state must not change until the last step: the caller applies
 * nothing meanwhile (the node driver pauses its apply worker, Raft goes on), so a capture of
 * millions of messages never holds the event loop for long.
 */
export function* captureSteps(state: BrokerState): Steps<SnapshotView> {
  const idem: IdemRecord[] = [];
  for (const r of state.idem.byKey.values()) {
    idem.push(r);
    if (idem.length % CAPTURE_STEP === 0) yield;
  }
  const sessions: SessionRow[] = [];
  for (const x of state.sessions.byId.values()) {
    sessions.push(sessionRow(x));
    if (sessions.length % CAPTURE_STEP === 0) yield;
  }
  const queues: ChannelCapture[] = [];
  for (const [n, q] of state.queues) queues.push(yield* captureChannel(n, q));
  const topics: TopicCapture[] = [];
  for (const t of state.topics.values()) topics.push(yield* captureTopic(t));
  const c: StateCapture = {
    head: [state.lastIndex, state.lastTs, state.nextOrd, state.idem.ttlMs, state.idem.keysMax],
    idem,
    sessions,
    limits: [state.limits.sessionsMax, state.limits.sessionBytesMax, state.limits.bytesMax],
    queues,
    topics,
  };
  return {
    index: state.lastIndex,
    parts: () => encodeState(c, false),
    drain: () => encodeState(c, true),
    serialize: () => concatParts(encodeState(c, false)),
  };
}

/** Shorthand: capture and serialize at once. */
export function snapshotBytes(state: BrokerState): Uint8Array {
  return captureSnapshot(state).serialize();
}

// ---- encoding, one bounded step per yielded part ----

/**
 * The captured blocks of `list` in order; with `release`, each is dropped from the list once the
 * caller moves past it (`drain`). A dropped block means the view was drained: encoding it again
 * would give a different snapshot, so it throws.
 */
function* blocksOf<T>(list: readonly T[], release: boolean): Generator<T, void, void> {
  const slots = list as (T | undefined)[]; // the capture's own arrays, built in this module
  for (let k = 0; k < slots.length; k++) {
    const b = slots[k];
    if (b === undefined) throw new Error("Cannot encode a snapshot view again once drained");
    yield b;
    if (release) slots[k] = undefined;
  }
}

/** Lets go of the captured blocks of `list` (shared with the live state) and drops them from it. */
function releaseAll(list: readonly { release(): void }[]): void {
  const slots = list as ({ release(): void } | undefined)[];
  for (let k = 0; k < slots.length; k++) {
    slots[k]?.release();
    slots[k] = undefined;
  }
}

function* encodeState(c: StateCapture, release: boolean): Generator<Uint8Array, void, void> {
  yield snapshotPreamble();
  yield* frame(
    pack([
      "head",
      ...c.head,
      c.idem.length,
      c.queues.length,
      c.topics.length,
      ...c.limits,
      c.sessions.length,
    ]),
  );
  for (let i = 0; i < c.idem.length; i += IDEM_PER_PART) {
    const rows = c.idem.slice(i, i + IDEM_PER_PART)
      .map((r) => [r.key, r.fingerprint, r.result, r.expiresAt]);
    yield* frame(pack(["idem", rows]));
  }
  for (let i = 0; i < c.sessions.length; i += SESSIONS_PER_PART) {
    yield* frame(pack(["sessions", c.sessions.slice(i, i + SESSIONS_PER_PART)]));
  }
  for (const q of c.queues) yield* encodeChannel(q, true, release);
  for (const t of c.topics) yield* encodeTopic(t, release);
  // After every topic, so a snapshot without them reads as before they existed.
  for (const t of c.topics) {
    if (t.extra !== undefined) yield* frame(pack(["topicx", t.name, ...t.extra]));
  }
  yield* frame(pack(["end"]));
}

function* encodeIds(c: IdCapture, release: boolean): Generator<Uint8Array, void, void> {
  let ids: string[] = [], nums: number[] = [], mut: number[] = [];
  const flush = () => {
    const part = frame(pack(["ids", ids, nums, f64Bytes(new Float64Array(mut))]));
    ids = [];
    nums = [];
    mut = [];
    return part;
  };
  for (const b of blocksOf(c.blocks, release)) {
    for (let i = 0; i < b.seq.length; i++) {
      if (!isCurrentSlot(b, i)) continue;
      ids.push(idOfSlot(b, i));
      nums.push(b.seq[i], b.expiresAt[i]);
      mut.push(b.state[i], b.attempt[i]);
      if (ids.length === IDS_PER_PART) yield* flush();
    }
    // Its rows are copied into the parts: the table may write the block in place again.
    if (release) b.release();
  }
  if (ids.length > 0) yield* flush();
}

/** The end of the chunk of `items` that starts at `from`: by count, then by body bytes. */
function chunkEnd(items: readonly { len: number }[], from: number): number {
  let bytes = 0;
  let to = from;
  while (to < items.length && to - from < MSGS_PER_PART && bytes < BODY_BYTES_PER_PART) {
    bytes += items[to++].len;
  }
  return to;
}

/**
 * One raw frame of the chunk's bodies, yielded as views of the slabs they live in (consecutive
 * messages sit side by side in one slab), so encoding copies no body: the caller's one copy into
 * the snapshot buffer is the only one. Slab bytes at a stored offset never change.
 */
function* bodiesFrame(
  items: readonly { buf: Uint8Array; off: number; len: number }[],
): Generator<Uint8Array, void, void> {
  let total = 0;
  for (const m of items) total += m.len;
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, total, true);
  yield len;
  let run: { buf: Uint8Array; start: number; end: number } | undefined;
  for (const m of items) {
    if (run !== undefined && run.buf === m.buf && run.end === m.off) {
      run.end += m.len;
      continue;
    }
    if (run !== undefined && run.end > run.start) yield run.buf.subarray(run.start, run.end);
    run = { buf: m.buf, start: m.off, end: m.off + m.len };
  }
  if (run !== undefined && run.end > run.start) yield run.buf.subarray(run.start, run.end);
}

/**
 * Sparse optional fields: [row, headers | null, group | null] for rows that have one, and a
 * fourth element, the subject, only on rows that have a subject (so rows without one read the
 * same as before subjects existed).
 */
function extras(
  items: readonly { headers?: unknown; group?: string; subject?: string }[],
): unknown[] {
  const out: unknown[] = [];
  items.forEach((m, i) => {
    if (m.subject !== undefined) out.push([i, m.headers ?? null, m.group ?? null, m.subject]);
    else if (m.headers !== undefined || m.group !== undefined) {
      out.push([i, m.headers ?? null, m.group ?? null]);
    }
  });
  return out;
}

/** A queue (with its bodies) or a subscription (whose bodies are the topic's). */
function* encodeChannel(
  c: ChannelCapture,
  withBodies: boolean,
  release: boolean,
): Generator<Uint8Array, void, void> {
  yield* frame(pack([
    "channel",
    c.name,
    c.ord,
    c.config,
    c.counters,
    c.ids.count,
    c.count,
  ]));
  // The ids stay held until the messages are encoded: `explicit` reads their captured state.
  yield* encodeIds(c.ids, false);
  // Parts cut by live messages, across blocks (a part does not depend on where blocks end).
  let picks: MsgColumns[] = [], rows: number[] = [], bytes = 0;
  const held: MsgColumns[] = [];
  const part = () => {
    const out = msgsPart(picks, rows, c.ids, withBodies);
    picks = [];
    rows = [];
    bytes = 0;
    // Every block before the current one is passed now.
    if (release) { for (const b of held.splice(0, held.length - 1)) b.release(); }
    return out;
  };
  for (const cols of blocksOf(c.blocks, release)) {
    held.push(cols);
    for (let i = 0; i < cols.seq.length; i++) {
      if (!isLiveSlot(cols, i)) continue;
      picks.push(cols);
      rows.push(i);
      bytes += cols.len[i];
      if (rows.length === MSGS_PER_PART || bytes >= BODY_BYTES_PER_PART) yield* part();
    }
  }
  if (rows.length > 0) yield* part();
  if (release) {
    for (const b of held) b.release();
    releaseAll(c.ids.blocks);
  }
}

/**
 * One `"msgs"` part of the live messages at `rows[k]` of `picks[k]` (and its bodies frame).
 * `explicit` is 1 where the message's dedup record was still the one its id was remembered by:
 * a record the table forgot (expired, or the id reused) no longer matters, canonical 0.
 */
function* msgsPart(
  picks: readonly MsgColumns[],
  slots: readonly number[],
  ids: IdCapture,
  withBodies: boolean,
): Generator<Uint8Array, void, void> {
  const fixed = new Float64Array(slots.length * 4);
  const mut = new Float64Array(slots.length * 4);
  const rows = slots.map((i, k) => {
    const cols = picks[k], rec = cols.rec[i];
    fixed[4 * k] = cols.seq[i];
    fixed[4 * k + 1] = cols.len[i];
    fixed[4 * k + 2] = cols.publishedAt[i];
    fixed[4 * k + 3] = cols.expiresAt[i];
    mut[4 * k] = cols.state[i];
    mut[4 * k + 1] = cols.attempt[i];
    mut[4 * k + 2] = cols.at[i];
    mut[4 * k + 3] = rec >= 0 && wasCurrent(ids, rec) ? 1 : 0;
    const x = cols.extras?.[i];
    return { buf: cols.bufs[cols.base + i], off: cols.off[i], len: cols.len[i], ...x };
  });
  const idList = slots.map((i, k) => msgIdOf(picks[k], i));
  yield* frame(pack(["msgs", f64Bytes(fixed), f64Bytes(mut), idList, extras(rows)]));
  if (withBodies) yield* bodiesFrame(rows);
}

function* encodeTopic(c: TopicCapture, release: boolean): Generator<Uint8Array, void, void> {
  yield* frame(pack([
    "topic",
    c.name,
    c.ord,
    c.config,
    c.counters,
    c.ids.count,
    c.log.length,
    c.subs.length,
  ]));
  yield* encodeIds(c.ids, release);
  for (let from = 0; from < c.log.length;) {
    const to = chunkEnd(c.log, from);
    const log = c.log.slice(from, to);
    const fixed = new Float64Array(log.length * 6);
    log.forEach((m, i) => {
      const at = 6 * i;
      fixed[at] = m.seq;
      fixed[at + 1] = m.len;
      fixed[at + 2] = m.publishedAt;
      fixed[at + 3] = m.notBefore;
      fixed[at + 4] = m.ttlAt;
      fixed[at + 5] = m.explicitId ? 1 : 0;
    });
    yield* frame(pack(["tmsgs", f64Bytes(fixed), log.map((m) => m.id), extras(log)]));
    yield* bodiesFrame(log);
    from = to;
  }
  for (const s of c.subs) yield* encodeChannel(s, false, release);
}
