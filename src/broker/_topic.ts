/**
 * Topics: a retained log by seq with dedup, fanned out to subscriptions. Each subscription is a
 * `Channel` that gets its own message record (sharing the topic's body bytes) for every topic
 * message from its start point on. Retention wins: a message dropped by retention leaves every
 * subscription too (Kafka / NATS limits semantics). With `retention: "interest"` (NATS JetStream's
 * interest retention) the log keeps a message only while a subscription holds it: each message
 * counts its holders, and the last one to let it go drops it. Folder-private.
 *
 * @module
 */

import type {
  SubscriptionConfig,
  TopicConfig,
  TopicInfo,
  TopicMessage,
  TopicPage,
} from "./commands.ts";
import { type Channel, MsgState } from "./_channel.ts";
import { IdTable } from "./_id_table.ts";
import { RoutingIndex } from "./_routing_index.ts";
import { RetainedTable } from "./_retained.ts";
import { ClaimTable } from "./_claims.ts";
import { EventKind, SeqTable, type TimedEvent } from "./_structs.ts";
import { headersMatch, subjectMatches } from "./subject.ts";
import { GENERATED_ID_PREFIX } from "./validate.ts";
import { storedExtraFields } from "./_shared_headers.ts";

/** Most log entries one filtered read looks at: a page may be short, its `nextSeq` goes on. */
export const READ_SCAN_MAX = 100_000;

/** One retained topic message. */
export interface TopicMsg {
  readonly seq: number;
  readonly id: string;
  readonly explicitId: boolean;
  readonly buf: Uint8Array;
  readonly off: number;
  readonly len: number;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly group: string | undefined;
  readonly subject: string | undefined;
  readonly publishedAt: number;
  /** publishedAt + delayMs: no subscription delivers it before. */
  readonly notBefore: number;
  /** publishedAt + ttlMs, or Infinity. */
  readonly ttlAt: number;
  /**
   * The subscriptions that may hold it, when the topic routes by filters (undefined: any of
   * them): retention drops it from these only, so a drop costs what the delivery did, not a
   * scan of 10,000 subscriptions. A superset is fine (a drop where it is absent is a no-op).
   */
  routed: Channel[] | undefined;
  /**
   * Interest retention: how many subscriptions hold it (kept up to date only then; counted again
   * on restore and when a topic turns to interest). The log holds no message with none.
   */
  holders: number;
}

export class Topic {
  readonly ids = new IdTable();
  readonly log = new SeqTable<TopicMsg>();
  readonly subs = new Map<string, Channel>();
  /** Which subscriptions each message goes to (derived from their configs; rebuilt on restore). */
  readonly routes = new RoutingIndex<Channel>();
  nextSeq = 1;
  bytes = 0;
  published = 0;
  /** The retained message of each subject that has one. */
  readonly retained = new RetainedTable();
  /** Who holds each client session of this topic (`claim_take`). */
  readonly claims: ClaimTable;

  constructor(
    readonly ord: number,
    readonly name: string,
    public config: TopicConfig,
    readonly schedule: (e: TimedEvent) => void,
  ) {
    this.claims = new ClaimTable(ord, schedule);
    this.#idPrefix = `${GENERATED_ID_PREFIX}${ord.toString(36)}.`;
  }

  /** `~<ord>.` in base 36: made once, not per message. */
  readonly #idPrefix: string;

  /** The id of a message published without one: `~<ord>.<seq>`, in base 36. */
  generatedId(seq: number): string {
    return this.#idPrefix + seq.toString(36);
  }

  info(): TopicInfo {
    const first = this.log.first();
    return {
      name: this.name,
      config: this.config,
      firstSeq: first === undefined ? this.nextSeq : first.seq,
      nextSeq: this.nextSeq,
      messages: this.log.count,
      bytes: this.bytes,
      published: this.published,
      subscriptions: [...this.subs.keys()],
    };
  }

  /** Whether the log keeps only what subscriptions hold. */
  get interest(): boolean {
    return this.config.retention === "interest";
  }

  /**
   * Appends a message to the log, fans it out, then applies the count and size retention. With
   * interest retention, a message that reached no subscription is not kept.
   */
  append(t: TopicMsg, now: number): void {
    const wasEmpty = this.log.count === 0;
    this.nextSeq = t.seq + 1;
    this.published++;
    const targets = this.routes.match(t.subject, t.headers);
    let holders = 0;
    for (let i = 0; i < targets.length; i++) {
      const sub = targets[i];
      if (t.seq >= sub.startSeq) {
        deliverTo(sub, t, now);
        holders++;
      }
    }
    if (this.interest) {
      if (holders === 0) return;
      t.holders = holders;
    }
    this.log.append(t.seq, t);
    this.bytes += t.len;
    t.routed = this.routes.filtered ? targets : undefined;
    const { maxMessages, maxBytes } = this.config;
    let dropped = false;
    while (
      this.log.count > 0 &&
      ((maxMessages !== undefined && this.log.count > maxMessages) ||
        (maxBytes !== undefined && this.bytes > maxBytes))
    ) {
      this.#dropHead();
      dropped = true;
    }
    // One age event is pending for the head; a new head needs its own.
    if (wasEmpty || dropped) this.scheduleAge();
  }

  #dropHead(): void {
    const t = this.log.first()!;
    this.log.delete(t.seq);
    this.bytes -= t.len;
    for (const sub of t.routed ?? this.subs.values()) sub.dropForRetention(t.seq);
  }

  /**
   * A subscription let go of `seq` (acked, dead, expired, dropped): with interest retention, the
   * last holder drops it from the log. A seq the log no longer has (retention dropped it first) is
   * a no-op.
   */
  released(seq: number): void {
    if (!this.interest) return;
    const t = this.log.get(seq);
    if (t === undefined || --t.holders > 0) return;
    this.log.delete(seq);
    this.bytes -= t.len;
    // A new head needs no event of its own: the one pending for an older head fires first and
    // looks again (`onEvent`). One per release would pile up for `maxAgeMs` each.
  }

  /** A subscription is gone: what it held is released. */
  unsubscribed(sub: Channel): void {
    sub.owner = undefined;
    if (!this.interest) return;
    const seqs: number[] = [];
    sub.msgs.forEach((m) => seqs.push(m.seq));
    for (let i = 0; i < seqs.length; i++) this.released(seqs[i]);
  }

  /**
   * New options (a `topic_put` on an existing topic). Turning to interest retention counts each
   * message's holders and drops the messages no subscription holds, at once.
   */
  configure(config: TopicConfig, now: number): void {
    const was = this.interest;
    this.config = config;
    if (this.interest && !was) {
      this.#ageAt = undefined; // events scheduled before were not counted: schedule one now
      for (const _ of this.countHolders()) { /* at once */ }
      const gone: TopicMsg[] = [];
      for (const m of this.log.values()) if (m.holders === 0) gone.push(m);
      for (const m of gone) {
        this.log.delete(m.seq);
        this.bytes -= m.len;
      }
    }
    this.retain(now);
  }

  /** Counts each message's holders from the subscriptions' stores, in steps (a restore). */
  *countHolders(): Generator<void, void, void> {
    let n = 0;
    for (const m of this.log.values()) {
      m.holders = 0;
      if (++n % 4096 === 0) yield;
    }
    for (const sub of this.subs.values()) {
      for (const m of sub.msgs.values()) {
        const t = this.log.get(m.seq);
        if (t !== undefined) t.holders++;
        if (++n % 4096 === 0) yield;
      }
    }
  }

  /**
   * Interest retention: the time of the age event this topic has pending, if any. Releases move
   * the head often, so a topic keeps one event, at or before its head's time, not one per head.
   */
  #ageAt: number | undefined;

  /** Schedules the age retention of the current head (one pending age event per head). */
  scheduleAge(): void {
    const head = this.log.first();
    const maxAgeMs = this.config.maxAgeMs;
    if (head === undefined || maxAgeMs === undefined) return;
    const at = head.publishedAt + maxAgeMs;
    if (this.interest) {
      if (this.#ageAt !== undefined && this.#ageAt <= at) return; // it will look again
      this.#ageAt = at;
    }
    this.schedule({
      at,
      ord: this.ord,
      seq: head.seq,
      kind: EventKind.TopicAge,
      attempt: 0,
    });
  }

  /** Re-applies retention after a config change or restore. */
  retain(now: number): void {
    const { maxMessages, maxBytes, maxAgeMs } = this.config;
    while (
      this.log.count > 0 &&
      ((maxMessages !== undefined && this.log.count > maxMessages) ||
        (maxBytes !== undefined && this.bytes > maxBytes) ||
        (maxAgeMs !== undefined && this.log.first()!.publishedAt + maxAgeMs <= now))
    ) this.#dropHead();
    this.scheduleAge();
  }

  /** Age retention: drops the heads that are too old, if this event is still current. */
  onEvent(e: TimedEvent, now: number): void {
    if (e.at === this.#ageAt) this.#ageAt = undefined;
    const head = this.log.first();
    const maxAgeMs = this.config.maxAgeMs;
    if (head === undefined || maxAgeMs === undefined) return;
    if (head.seq !== e.seq || head.publishedAt + maxAgeMs !== e.at) {
      // Interest: releases moved the head on since; its age is later: look again then.
      if (this.interest) this.scheduleAge();
      return;
    }
    this.retain(now);
  }

  /**
   * Retained messages from `fromSeq`, at most `limit`; with `subject`, only those whose subject
   * matches that pattern, looking at no more than `READ_SCAN_MAX` entries. Read-only.
   */
  read(fromSeq: number, limit: number, subject?: string): TopicPage {
    const messages: TopicMessage[] = [];
    const first = this.log.first();
    let seq = Math.max(fromSeq, first?.seq ?? this.nextSeq);
    const scanEnd = subject === undefined
      ? this.nextSeq
      : Math.min(seq + READ_SCAN_MAX, this.nextSeq);
    for (; seq < scanEnd && messages.length < limit; seq++) {
      const t = this.log.get(seq);
      if (t === undefined) continue;
      if (
        subject !== undefined && (t.subject === undefined || !subjectMatches(subject, t.subject))
      ) {
        continue;
      }
      messages.push(topicMessage(t));
    }
    return { messages, nextSeq: seq };
  }

  /** Routes a subscription by its config's filters and headers (a create, change or restore). */
  route(sub: Channel): void {
    // A subscription's config is a SubscriptionConfig: it was resolved and stored as one.
    this.routes.set(sub, sub.config as SubscriptionConfig);
  }

  /** Fills a new subscription from the retained log, from `startSeq` on, as routed. */
  backfill(sub: Channel, startSeq: number, now: number): void {
    sub.startSeq = startSeq;
    const c = sub.config as SubscriptionConfig;
    const interest = this.interest;
    for (const t of this.log.values()) {
      if (t.seq >= startSeq && routedTo(c, t)) {
        deliverTo(sub, t, now);
        t.routed?.push(sub);
        if (interest) t.holders++;
      }
    }
    sub.nextSeq = Math.max(startSeq, this.nextSeq);
  }
}

/**
 * After a restore: which subscriptions hold each message (`TopicMsg.routed`), when the topic
 * routes by filters. In steps of a few thousand messages.
 */
export function* rebuildRouted(t: Topic): Generator<void, void, void> {
  if (!t.routes.filtered) return;
  let n = 0;
  for (const m of t.log.values()) {
    m.routed = [];
    if (++n % 4096 === 0) yield;
  }
  for (const sub of t.subs.values()) {
    for (const m of sub.msgs.values()) {
      t.log.get(m.seq)?.routed?.push(sub);
      if (++n % 4096 === 0) yield;
    }
  }
}

/** One subscription's routing rules applied to one message (the index's answer, for one). */
function routedTo(c: SubscriptionConfig, t: TopicMsg): boolean {
  if (c.headers !== undefined && !headersMatch(c.headers, t.headers)) return false;
  if (c.filters === undefined) return true;
  const subject = t.subject;
  return subject !== undefined && c.filters.some((p) => subjectMatches(p, subject));
}

function topicMessage(t: TopicMsg): TopicMessage {
  const m: TopicMessage = {
    seq: t.seq,
    id: t.id,
    body: t.buf.subarray(t.off, t.off + t.len),
    headers: t.headers ?? {},
    publishedAt: t.publishedAt,
  };
  if (t.group !== undefined) Object.assign(m, { group: t.group });
  if (t.subject !== undefined) Object.assign(m, { subject: t.subject });
  return m;
}

/** Gives one topic message to one subscription as a fresh stored message. */
export function deliverTo(sub: Channel, t: TopicMsg, now: number): void {
  const c = sub.config;
  const ttlAt = c.messageTtlMs === undefined
    ? t.ttlAt
    : Math.min(t.ttlAt, t.publishedAt + c.messageTtlMs);
  const rec: number | undefined = t.explicitId
    ? sub.ids.add(t.id, t.seq, t.publishedAt + c.dedupWindowMs)
    : undefined;
  const delayed = t.notBefore > now;
  sub.published++;
  sub.ids.expire(now);
  // Field by field: a `NewMsg` per delivery was garbage at once (every subscription, every node).
  sub.insertFields(
    t.seq,
    t.id,
    rec,
    t.buf,
    t.off,
    t.len,
    storedExtraFields(t.headers, t.group, t.subject),
    t.publishedAt,
    ttlAt,
    delayed ? MsgState.Delayed : MsgState.Ready,
    delayed ? t.notBefore : 0,
  );
}
