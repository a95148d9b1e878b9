/**
 * Restoring a broker snapshot (format in `_snapshot_format.ts`) in bounded steps. Folder-private;
 * exported through `snapshot.ts`.
 *
 * @module
 */

import type { QueueConfig, Result, TopicConfig } from "./commands.ts";
import { Channel, type Msg, type MsgState } from "./_channel.ts";
import type { IdemRecord } from "./_ids.ts";
import type { IdTable } from "./_id_table.ts";
import { restoreSessionRow, type SessionRow } from "./_snapshot_sessions.ts";
import { bytesF64, FrameReader, type SnapshotSource } from "./_snapshot_format.ts";
import { rebuildRouted, Topic, type TopicMsg } from "./_topic.ts";
import { BrokerState } from "./state.ts";
import type { RetainedRow } from "./_retained.ts";
import type { ClaimRow, SlotRow } from "./_claims.ts";

type Steps<T> = Generator<void, T, void>;
/** Row: [headers, group, subject] (the subject is left off by writers when absent). */
type Extras = Map<number, [Msg["headers"] | null, string | null, string | undefined]>;
/**
 * Messages restored per step. Finer than a part: a cold (not yet optimized) restore with the
 * garbage collector busy takes up to ~10 µs a message here, and a step must stay a few ms.
 */
const MSGS_PER_STEP = 256;
/** The optional fields of a row without extras (one shared array, not one per message). */
const NO_EXTRAS: [null, null, undefined] = [null, null, undefined];

/** Rebuilds a state from snapshot bytes in one synchronous call. */
export function restoreSnapshot(bytes: Uint8Array): BrokerState {
  const steps = restoreSteps(bytes);
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}

/**
 * Rebuilds a state from snapshot bytes, one part per step (each a few ms at most); the state is
 * the generator's return value. Throws, naming what it was reading, on damaged or unknown bytes.
 * The state is a new object: nothing is visible to anyone before the last step. `source` may be
 * a reader of a stored snapshot (`SnapshotSource`): the restore then reads it a window of
 * `windowBytes` (default `READ_WINDOW_BYTES`) at a time as it goes and never holds it whole.
 */
export function* restoreSteps(
  source: SnapshotSource,
  windowBytes?: number,
): Steps<BrokerState> {
  const r = new FrameReader(source, windowBytes);
  const head = r.part("head") as number[];
  const [lastIndex, lastTs, nextOrd, idemTtlMs, idemKeysMax, nIdem, nQueues, nTopics] = head;
  // Snapshots before sessions end here: their states had none, and take the default bounds.
  const [sessionsMax, sessionBytesMax, exactlyOnceBytesMax, nSessions = 0] = head.slice(8);
  const state = new BrokerState({
    idemTtlMs,
    idemKeysMax,
    sessionsMax,
    sessionBytesMax,
    exactlyOnceBytesMax,
  });
  state.lastIndex = lastIndex;
  state.lastTs = lastTs;
  state.nextOrd = nextOrd;
  for (let done = 0; done < nIdem;) {
    const [rows] = r.part("idem") as [[string, string, Result, number][]];
    nonEmpty(rows.length, "idem");
    for (const [key, fingerprint, result, expiresAt] of rows) {
      // Decoded bytes are views into the snapshot: copy them, or a stored receive pins its bytes.
      const rec: IdemRecord = { key, fingerprint, result: copyBytes(result) as Result, expiresAt };
      state.idem.put(rec);
    }
    done += rows.length;
    yield;
  }
  for (let done = 0; done < nSessions;) {
    const [rows] = r.part("sessions") as [SessionRow[]];
    nonEmpty(rows.length, "sessions");
    for (const row of rows) restoreSessionRow(state.sessions, row, copyBytes);
    done += rows.length;
    yield;
  }
  for (let i = 0; i < nQueues; i++) {
    const ch = yield* restoreChannel(r, state, undefined);
    state.queues.set(ch.name, ch.ch);
  }
  for (let i = 0; i < nTopics; i++) {
    const t = yield* restoreTopic(r, state);
    state.topics.set(t.name, t);
  }
  // Retained messages and claims of topics that have any, then the end.
  for (let i = 0; i <= nTopics; i++) {
    const part = r.anyPart();
    if (part[0] === "end") break;
    if (part[0] !== "topicx" || i === nTopics) {
      throw new Error(`Cannot restore snapshot: expected an "end" part, found "${part[0]}"`);
    }
    const [name, retained, claims, nextNo, slots] = part.slice(1) as [
      string,
      RetainedRow[],
      ClaimRow[],
      number,
      SlotRow[] | undefined,
    ];
    const t = state.topics.get(name);
    if (t === undefined) throw new Error(`Cannot restore snapshot: retained of no topic ${name}`);
    t.retained.restore(retained);
    t.claims.restore(claims, nextNo, state.lastTs);
    t.claims.restoreSlots(slots ?? []);
  }
  r.end();
  return state;
}

/** A part that restores nothing would loop forever on a damaged count. */
function nonEmpty(n: number, tag: string): void {
  if (n === 0) throw new Error(`Cannot restore snapshot: an empty "${tag}" part`);
}

/** The records a channel's restore just appended: their numbers and seqs, in table order. */
interface RestoredIds {
  readonly firstNo: number;
  readonly seqs: Float64Array;
}

/** Restores `n` id records into `ids`, in table order (by increasing seq). */
function* restoreIds(r: FrameReader, ids: IdTable, n: number): Steps<RestoredIds> {
  const seqs = new Float64Array(n);
  let firstNo = -1;
  ids.reserve(Math.min(n, r.byteLength / 16)); // 16 bytes of columns at least per id
  ids.beginRestore();
  for (let done = 0; done < n;) {
    const [list, nums, mutBytes] = r.part("ids") as [string[], number[], Uint8Array];
    nonEmpty(list.length, "ids");
    if (done + list.length > n) throw new Error("Cannot restore snapshot: more ids than counted");
    const mut = bytesF64(mutBytes, "Cannot restore snapshot ids");
    for (let i = 0; i < list.length; i++) {
      const no = ids.restoreFields(
        list[i],
        nums[2 * i],
        nums[2 * i + 1],
        mut[2 * i],
        mut[2 * i + 1],
      );
      if (firstNo < 0) firstNo = no;
      seqs[done + i] = nums[2 * i];
    }
    done += list.length;
    yield;
  }
  ids.endRestore();
  return { firstNo, seqs };
}

/**
 * Finds a restored message's id record. Records were added in publish order, so their seqs
 * increase like the messages': a cursor walking both finds each without a hash lookup of the id;
 * anything out of that order falls back to the table.
 */
class RecordCursor {
  #at = 0;

  constructor(readonly recs: RestoredIds, readonly ids: IdTable) {}

  find(id: string, seq: number): number | undefined {
    const seqs = this.recs.seqs;
    while (this.#at < seqs.length && seqs[this.#at] < seq) this.#at++;
    const no = this.recs.firstNo + this.#at;
    if (this.#at < seqs.length && seqs[this.#at] === seq && this.ids.holds(no, id)) return no;
    const current = this.ids.currentNo(id);
    return current < 0 ? undefined : current;
  }
}

function extrasByRow(list: unknown[]): Extras {
  const out: Extras = new Map();
  for (const x of list as [number, Msg["headers"] | null, string | null, string?][]) {
    out.set(x[0], [x[1], x[2], x[3] ?? undefined]);
  }
  return out;
}

/** A queue (topic undefined) or a subscription of `topic`. */
function* restoreChannel(
  r: FrameReader,
  state: BrokerState,
  topic: Topic | undefined,
): Steps<{ name: string; ch: Channel }> {
  const [name, ord, config, counters, nIds, nMsgs] = r.part("channel") as [
    string,
    number,
    QueueConfig,
    number[],
    number,
    number,
  ];
  const ch = new Channel(ord, topic ? `${topic.name}/${name}` : name, config, state.host);
  [ch.published, ch.acked, ch.deadLettered, ch.retentionDropped, ch.nextSeq, ch.startSeq] =
    counters;
  // Appended later: a snapshot taken before it has six counters and restores 0.
  ch.delivered = counters[6] ?? 0;
  const recs = new RecordCursor(yield* restoreIds(r, ch.ids, nIds), ch.ids);
  // Each message takes at least 64 bytes of columns: a count beyond that is not believed.
  ch.msgs.reserve(Math.min(nMsgs, r.byteLength / 64));
  for (let done = 0; done < nMsgs;) {
    const [fixedBytes, mutBytes, ids, ext] = r.part("msgs") as [
      Uint8Array,
      Uint8Array,
      string[],
      unknown[],
    ];
    nonEmpty(ids.length, "msgs");
    // Copied before the next frame is read: the reader may read it into the same buffer.
    const fixed = bytesF64(fixedBytes, `Cannot restore ${ch.origin}`);
    const mut = bytesF64(mutBytes, `Cannot restore ${ch.origin}`);
    const bodies = topic === undefined ? r.raw() : undefined;
    yield* restoreMsgs(ch, topic, recs, { fixed, mut, ids, ext: extrasByRow(ext), bodies });
    done += ids.length;
  }
  ch.reindexGroups();
  state.byOrd.set(ch.ord, ch);
  return { name, ch };
}

interface MsgsChunk {
  fixed: Float64Array;
  mut: Float64Array;
  ids: string[];
  ext: Extras;
  /** Queues: this chunk's bodies, concatenated. Subscriptions share the topic's. */
  bodies: Uint8Array | undefined;
}

function* restoreMsgs(
  ch: Channel,
  topic: Topic | undefined,
  recs: RecordCursor,
  c: MsgsChunk,
): Steps<void> {
  const { fixed, mut } = c;
  // One copy of the chunk's bodies, which its messages share as their slab (a chunk holds at most
  // a slab's worth of bytes): a copy per message cost more than the rest of the restore.
  const bodies = c.bodies === undefined ? undefined : new Uint8Array(c.bodies);
  let bodyAt = 0;
  for (let i = 0; i < c.ids.length; i++) {
    const id = c.ids[i];
    const seq = fixed[4 * i], len = fixed[4 * i + 1];
    let buf: Uint8Array, off: number;
    if (c.bodies === undefined) {
      const t = topic!.log.get(seq);
      if (t === undefined) throw new Error(`Cannot restore ${ch.origin}: topic lacks seq ${seq}`);
      ({ buf, off } = t);
    } else {
      if (bodyAt + len > bodies!.length) {
        throw new Error(`Cannot restore ${ch.origin}: the bodies of seq ${seq} overrun their part`);
      }
      buf = bodies!;
      off = bodyAt;
      bodyAt += len;
    }
    const rec = mut[4 * i + 3] === 1 ? recs.find(id, seq) : undefined;
    // Field by field, no object per message: most rows have no extras (an empty map).
    const x = c.ext.size === 0 ? undefined : c.ext.get(i);
    const headers = x?.[0] ?? undefined, group = x?.[1] ?? undefined, subject = x?.[2];
    const extras = headers === undefined && group === undefined && subject === undefined
      ? undefined
      : { headers, group, subject };
    const state = mut[4 * i] as MsgState, attempt = mut[4 * i + 1], at = mut[4 * i + 2];
    const publishedAt = fixed[4 * i + 2], expiresAt = fixed[4 * i + 3];
    ch.msgs.appendFields(
      seq,
      id,
      rec ?? -1,
      buf,
      off,
      len,
      extras,
      publishedAt,
      expiresAt,
      state,
      attempt,
      at,
    );
    ch.reindexRestored(seq, state, attempt, at, expiresAt, len, extras?.group);
    if ((i + 1) % MSGS_PER_STEP === 0 || i + 1 === c.ids.length) yield;
  }
}

function* restoreTopic(r: FrameReader, state: BrokerState): Steps<Topic> {
  const [name, ord, config, counters, nIds, nMsgs, nSubs] = r.part("topic") as [
    string,
    number,
    TopicConfig,
    number[],
    number,
    number,
    number,
  ];
  const t = new Topic(ord, name, config, state.host.schedule);
  [t.nextSeq, t.published] = counters;
  yield* restoreIds(r, t.ids, nIds);
  for (let done = 0; done < nMsgs;) {
    const [fixedBytes, ids, ext] = r.part("tmsgs") as [Uint8Array, string[], unknown[]];
    nonEmpty(ids.length, "tmsgs");
    const fixed = bytesF64(fixedBytes, `Cannot restore topic ${name}`);
    yield* restoreTopicMsgs(t, { fixed, ids, ext: extrasByRow(ext), bodies: r.raw() });
    done += ids.length;
  }
  for (let i = 0; i < nSubs; i++) {
    const s = yield* restoreChannel(r, state, t);
    t.subs.set(s.name, s.ch);
    s.ch.owner = t;
    t.route(s.ch); // routing is derived from the subscription's config, which the snapshot holds
  }
  yield* rebuildRouted(t);
  if (t.interest) yield* t.countHolders(); // derived, as routing is
  t.scheduleAge();
  state.byOrd.set(t.ord, t);
  return t;
}

function* restoreTopicMsgs(
  t: Topic,
  c: { fixed: Float64Array; ids: string[]; ext: Extras; bodies: Uint8Array },
): Steps<void> {
  let bodyAt = 0;
  const buf = new Uint8Array(c.bodies); // the chunk's messages share one copy (restoreMsgs)
  for (let i = 0; i < c.ids.length; i++) {
    const id = c.ids[i];
    const [seq, len, publishedAt, notBefore, ttlAt, explicit] = c.fixed.subarray(6 * i, 6 * i + 6);
    if (bodyAt + len > buf.length) {
      throw new Error(`Cannot restore topic ${t.name}: the body of seq ${seq} overruns its part`);
    }
    const off = bodyAt;
    bodyAt += len;
    const [headers, group, subject] = c.ext.get(i) ?? NO_EXTRAS;
    const m: TopicMsg = {
      seq,
      id,
      explicitId: explicit === 1,
      buf,
      off,
      len,
      headers: headers ?? undefined,
      group: group ?? undefined,
      subject,
      publishedAt,
      notBefore,
      ttlAt,
      routed: undefined,
      holders: 0,
    };
    t.log.append(seq, m);
    t.bytes += len;
    if ((i + 1) % MSGS_PER_STEP === 0 || i + 1 === c.ids.length) yield;
  }
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
