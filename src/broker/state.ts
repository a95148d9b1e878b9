/**
 * `BrokerState`: the replicated state machine. `apply` is deterministic: it reads time only from
 * the entry (clamped non-decreasing) and keeps no outside state, so every replica that applies
 * the same log holds the same state and answers the same results.
 *
 * @module
 */

import type {
  ClaimInfo,
  Command,
  ConsumerTarget,
  Deliverability,
  Envelope,
  Failure,
  MessageStatus,
  PeekedMessage,
  Proposal,
  QueueInfo,
  Result,
  SessionRef,
  SubscriptionInfo,
  TopicInfo,
  TopicMessage,
  TopicPage,
} from "./commands.ts";
import { type DecodedEntry, decodeEntry, mustGoAlone, type Stamp } from "./envelope.ts";
import {
  type Channel,
  type ChannelHost,
  type DeadReason,
  decodeReceipt,
  type Msg,
} from "./_channel.ts";
import { IdemTable } from "./_ids.ts";
import { EventHeap, EventKind, SlabAllocator, type TimedEvent } from "./_structs.ts";
import { Topic } from "./_topic.ts";
import { onClaimEvent } from "./_execute_claims.ts";
import { executeCommand } from "./_execute.ts";
import { applyExactlyOnce, type ExactlyOnceLimits, hasStoredAnswer } from "./_exactly_once.ts";
import {
  EXACTLY_ONCE_BYTES_MAX,
  SESSION_BYTES_MAX,
  SESSIONS_MAX,
  SessionTable,
} from "./_sessions.ts";
import { storeMessage } from "./_store.ts";
import { GENERATED_ID_PREFIX, invalid } from "./validate.ts";

/** Header names a dead-lettered message carries. */
export const DEAD_LETTER_HEADERS = {
  origin: "x-quorumq-origin",
  reason: "x-quorumq-dead-reason",
  attempts: "x-quorumq-attempts",
} as const;

/**
 * Bounds of the exactly-once state. They decide answers, so every replica must use the same:
 * they are fixed here and carried in snapshots, never read from a node's flags.
 */
export interface BrokerOptions {
  idemTtlMs?: number;
  idemKeysMax?: number;
  sessionsMax?: number;
  sessionBytesMax?: number;
  exactlyOnceBytesMax?: number;
}

/** Sessions and Idempotency-Keys held, with their bounds. */
export interface ExactlyOnceStats {
  readonly sessions: number;
  readonly sessionsMax: number;
  readonly keys: number;
  readonly keysMax: number;
  /** What the byte bound counts (`answerBytes` estimates) for sessions and keys together. */
  readonly bytes: number;
  readonly bytesMax: number;
}

/** The results of a batch entry, one per proposal in order (`BrokerState.applyEntry`). */
export class BatchResults {
  constructor(readonly results: readonly Result[]) {}
}

/** The broker state machine. */
export class BrokerState {
  readonly queues = new Map<string, Channel>();
  readonly topics = new Map<string, Topic>();
  /** Queues, subscriptions and topics by ordinal: timed events and receipts name them. */
  readonly byOrd = new Map<number, Channel | Topic>();
  readonly events = new EventHeap();
  readonly idem: IdemTable;
  readonly slab = new SlabAllocator();
  /** Entry time of the last applied entry, never decreasing. */
  lastTs = 0;
  lastIndex = 0;
  /** The next ordinal: every queue, topic and subscription incarnation gets a new one. */
  nextOrd = 1;
  readonly host: ChannelHost = {
    schedule: (e) => this.events.push(e),
    deadLetter: (from, msg, reason, now) => this.#moveToDeadLetter(from, msg, reason, now),
  };

  readonly sessions = new SessionTable();
  readonly limits: ExactlyOnceLimits;

  constructor(options: BrokerOptions = {}) {
    this.idem = new IdemTable(options.idemTtlMs, options.idemKeysMax);
    this.limits = {
      sessionsMax: options.sessionsMax ?? SESSIONS_MAX,
      sessionBytesMax: options.sessionBytesMax ?? SESSION_BYTES_MAX,
      bytesMax: options.exactlyOnceBytesMax ?? EXACTLY_ONCE_BYTES_MAX,
    };
  }

  /**
   * Applies one committed entry's envelope. Raft §5.3: entries are applied in log order, each
   * once; an index that does not increase is a driver bug and throws.
   */
  apply(index: number, envelope: Envelope, answers = true): Result {
    this.#advanceIndex(index);
    return this.#applyOne(index, envelope, envelope, answers);
  }

  #advanceIndex(index: number): void {
    if (!Number.isSafeInteger(index) || index <= this.lastIndex) {
      throw new Error(`Cannot apply entry ${index}: entry ${this.lastIndex} was applied already`);
    }
    this.lastIndex = index;
  }

  /** Moves entry time to the envelope's stamp and runs the timed events due by then. */
  #advanceTime(stamp: Stamp): number {
    const ts = typeof stamp.ts === "number" && Number.isFinite(stamp.ts) ? stamp.ts : 0;
    // A wall-clock stamp starts time where there is none; it never moves time that entries
    // already carry (see src/broker/entry_clock.ts).
    const now = stamp.wallClock === true && this.lastTs > 0
      ? this.lastTs
      : Math.max(ts, this.lastTs);
    this.lastTs = now;
    this.advanceTo(now);
    return now;
  }

  /** One proposal at `stamp`'s time (a batch's items share their entry's stamp). */
  #applyOne(index: number, stamp: Stamp, proposal: Proposal, answers: boolean): Result {
    const now = this.#advanceTime(stamp);
    if (typeof proposal.cmd !== "object" || proposal.cmd === null) {
      return invalid("the command must be an object");
    }
    return applyExactlyOnce(this, this.#execute, index, proposal, now, answers);
  }

  readonly #execute = (index: number, cmd: Command, now: number, answers: boolean): Result =>
    executeCommand(this, index, cmd, now, answers);

  /**
   * Applies a committed entry's raw data. Empty data (a new leader's no-op) only moves the
   * applied index; data that does not decode is refused as `invalid_request`, never thrown.
   * A batch entry (envelope version 2) answers one result per proposal, in order: each is
   * applied as if it were an entry of its own at this index with the batch's stamp, so one that
   * fails or is refused leaves its neighbours as they would be. `session_open` is refused in a
   * batch: its session id is its entry's index, which a batch shares (envelope.ts `mustGoAlone`).
   * `own`: what `decodeEntry(data)` gives, already at hand (the leader's own entry, `ownEntry`).
   * `answers` false: nobody reads this entry's answers (a node none of whose proposals waits):
   * what a command answers per message (publish outcomes, deliveries, receipt results) is not
   * made unless it is stored (a write in a session or under an Idempotency-Key), and such
   * commands answer `UNANSWERED`. The state is the same either way (`own_entry_test.ts`).
   */
  applyEntry(
    index: number,
    data: Uint8Array,
    own?: DecodedEntry,
    answers = true,
  ): Result | BatchResults | undefined {
    if (data.length === 0) {
      this.#advanceIndex(index);
      return undefined;
    }
    let entry: DecodedEntry;
    try {
      entry = own ?? decodeEntry(data);
    } catch (e) {
      this.apply(index, { ts: this.lastTs, cmd: { op: "tick" } });
      return invalid(`Cannot decode entry ${index}: ${(e as Error).message}`);
    }
    if (!entry.batch) return this.apply(index, entry.items[0] as Envelope, answers);
    this.#advanceIndex(index);
    const stamp = entry.stamp;
    return new BatchResults(entry.items.map((item, i): Result => {
      if (item === undefined || mustGoAlone(item)) {
        this.#advanceTime(stamp);
        return invalid(
          item === undefined
            ? `item ${i} of entry ${index} is not a proposal`
            : `${item.cmd.op} must be an entry of its own, not item ${i} of a batch`,
        );
      }
      return this.#applyOne(index, stamp, item, answers);
    }));
  }

  /** Runs every timed event due at or before `now`, in (at, ord, seq, kind) order. */
  advanceTo(now: number): void {
    for (;;) {
      const top = this.events.peek();
      if (top === undefined || top.at > now) return;
      const e = this.events.pop()!;
      const target = this.byOrd.get(e.ord);
      if (e.kind === EventKind.ClaimEnd) {
        if (target instanceof Topic) onClaimEvent(this, target, e);
      } else target?.onEvent(e, now);
    }
  }

  #moveToDeadLetter(from: Channel, m: Msg, reason: DeadReason, now: number): void {
    const name = from.config.deadLetterQueue;
    const dlq = name === undefined ? undefined : this.queues.get(name);
    if (dlq === undefined || dlq === from) return; // dropped; counted in deadLettered
    const headers = {
      ...m.headers,
      [DEAD_LETTER_HEADERS.origin]: from.origin,
      [DEAD_LETTER_HEADERS.reason]: reason,
      [DEAD_LETTER_HEADERS.attempts]: String(m.attempt),
    };
    // Decided from the id itself, not from m.rec: whether the origin still remembers the id
    // depends on when its table was last pruned, which a restored replica does differently.
    const explicit = !m.id.startsWith(GENERATED_ID_PREFIX) &&
      dlq.ids.lookup(m.id, now) === undefined;
    storeMessage(dlq, {
      id: m.id,
      explicit,
      buf: m.buf,
      off: m.off,
      len: m.len,
      headers,
      group: m.group,
      subject: m.subject,
      delayMs: 0,
      ttlMs: undefined,
    }, now);
  }

  // ---- read-only queries, as of the last applied entry ----

  /** Open sessions and held keys against their bounds (the metrics show them). */
  exactlyOnceStats(): ExactlyOnceStats {
    return {
      sessions: this.sessions.byId.size,
      sessionsMax: this.limits.sessionsMax,
      keys: this.idem.byKey.size,
      keysMax: this.idem.keysMax,
      bytes: this.sessions.bytes + this.idem.bytes,
      bytesMax: this.limits.bytesMax,
    };
  }

  /** Whether a repeat of this session place or Idempotency-Key would replay a stored answer. */
  hasStoredAnswer(
    p: { readonly idemKey?: string; readonly session?: SessionRef; readonly owner?: string },
  ): boolean {
    return hasStoredAnswer(this, p, this.lastTs);
  }

  queue(name: string): QueueInfo | undefined {
    const q = this.queues.get(name);
    return q === undefined ? undefined : { name, config: q.config, stats: q.stats() };
  }

  /** Every queue, by name. */
  listQueues(): QueueInfo[] {
    return [...this.queues.keys()].sort().map((n) => this.queue(n)!);
  }

  /** A message's state by id while the id is remembered (generated ids: while stored). */
  messageStatus(queue: string, id: string): MessageStatus | undefined {
    const q = this.queues.get(queue);
    if (q === undefined) return undefined;
    if (id.startsWith(GENERATED_ID_PREFIX)) {
      const r = decodeReceipt(`${id.slice(1)}.0`);
      if (r === undefined || r.ord !== q.ord) return undefined;
      return q.statusOf(id, r.seq, undefined);
    }
    const rec = q.ids.lookup(id, this.lastTs);
    return rec === undefined ? undefined : q.statusOf(id, rec.seq, rec);
  }

  /** Up to `limit` stored messages of a queue from `fromSeq`, without leasing them. */
  peekQueue(name: string, fromSeq: number, limit: number): PeekedMessage[] | undefined {
    return this.queues.get(name)?.peek(fromSeq, limit);
  }

  topic(name: string): TopicInfo | undefined {
    return this.topics.get(name)?.info();
  }

  listTopics(): TopicInfo[] {
    return [...this.topics.keys()].sort().map((n) => this.topic(n)!);
  }

  /** Reads the retained log from `fromSeq`, at most `limit` messages. */
  readTopic(name: string, fromSeq: number, limit: number): TopicMessage[] | undefined {
    return this.topics.get(name)?.read(fromSeq, limit).messages;
  }

  /**
   * A page of the retained log from `fromSeq`: at most `limit` messages, with `subject` only
   * those matching that pattern, and the seq the next page starts at.
   */
  readTopicPage(
    name: string,
    fromSeq: number,
    limit: number,
    subject?: string,
  ): TopicPage | undefined {
    return this.topics.get(name)?.read(fromSeq, limit, subject);
  }

  /** The live retained messages of a topic (with `subject`, those matching that pattern). */
  retained(topic: string, subject?: string): TopicMessage[] | undefined {
    return this.topics.get(topic)?.retained.read(subject, this.lastTs);
  }

  /** A claim of a topic: its holder (null: released) and data. */
  claim(topic: string, key: string): ClaimInfo | undefined {
    const c = this.topics.get(topic)?.claims.byKey.get(key);
    return c === undefined ? undefined : {
      holder: c.holder,
      data: c.data ?? null,
      subscriptions: c.subscriptions,
      stamp: c.stamp,
      ...(c.expireMs !== undefined ? { expireMs: c.expireMs } : {}),
      ...(c.endAt !== Infinity ? { endsAt: c.endAt } : {}),
    };
  }

  /** Moves whenever a claim of the topic changes on this replica (`ClaimTable.changes`). */
  claimChanges(topic: string): number {
    return this.topics.get(topic)?.claims.changes ?? 0;
  }

  /** The claim keys of a topic changed since `claimChanges` was `since` (undefined: too many). */
  claimsChangedSince(topic: string, since: number): string[] | undefined {
    return this.topics.get(topic)?.claims.changedSince(since);
  }

  /** Every claim of a topic that `holder` names by prefix (a node's own, after its restart). */
  claimsHeldBy(topic: string, holderPrefix: string): { key: string; holder: string }[] {
    const out: { key: string; holder: string }[] = [];
    for (const [key, c] of this.topics.get(topic)?.claims.byKey ?? []) {
      if (c.holder?.startsWith(holderPrefix)) out.push({ key, holder: c.holder });
    }
    return out;
  }

  subscription(topic: string, name: string): SubscriptionInfo | undefined {
    const t = this.topics.get(topic);
    const s = t?.subs.get(name);
    if (s === undefined) return undefined;
    return {
      topic,
      name,
      config: s.config,
      stats: { ...s.stats(), retentionDropped: s.retentionDropped },
      // A filtered subscription stores only what it matched, but it has passed every seq the
      // topic appended since it started.
      cursor: Math.max(s.nextSeq, t!.nextSeq),
    };
  }

  /** For long-poll: is a message deliverable now, and when may the next one be. */
  deliverability(target: ConsumerTarget): Deliverability | undefined {
    const ch = "queue" in target
      ? this.queues.get(target.queue)
      : this.topics.get(target.topic)?.subs.get(target.subscription);
    if (ch === undefined) return undefined;
    const nextAt = ch.nextAt();
    const now = ch.deliverableNow();
    return nextAt === undefined ? { deliverableNow: now } : { deliverableNow: now, nextAt };
  }
}

export type { Failure, TimedEvent };

/** Narrows a command's op for exhaustive switches. */
export type Op = Command["op"];
