/**
 * Topics: a retained log by seq with dedup, fanned out to subscriptions. Each subscription is a
 * `Channel` that gets its own message record (sharing the topic's body bytes) for every topic
 * message from its start point on. Retention wins: a message dropped by retention leaves every
 * subscription too (Kafka / NATS limits semantics). Folder-private.
 *
 * @module
 */

import type { TopicConfig, TopicInfo, TopicMessage } from "./commands.ts";
import { type Channel, type Msg, MsgState } from "./_channel.ts";
import { type IdRecord, IdTable } from "./_ids.ts";
import { EventKind, SeqTable, type TimedEvent } from "./_structs.ts";

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
  readonly publishedAt: number;
  /** publishedAt + delayMs: no subscription delivers it before. */
  readonly notBefore: number;
  /** publishedAt + ttlMs, or Infinity. */
  readonly ttlAt: number;
}

export class Topic {
  readonly ids = new IdTable();
  readonly log = new SeqTable<TopicMsg>();
  readonly subs = new Map<string, Channel>();
  nextSeq = 1;
  bytes = 0;
  published = 0;

  constructor(
    readonly ord: number,
    readonly name: string,
    public config: TopicConfig,
    readonly schedule: (e: TimedEvent) => void,
  ) {}

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

  /** Appends a message to the log, fans it out, then applies the count and size retention. */
  append(t: TopicMsg, now: number): void {
    const wasEmpty = this.log.count === 0;
    this.log.append(t.seq, t);
    this.nextSeq = t.seq + 1;
    this.bytes += t.len;
    this.published++;
    for (const sub of this.subs.values()) if (t.seq >= sub.startSeq) deliverTo(sub, t, now);
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
    for (const sub of this.subs.values()) sub.dropForRetention(t.seq);
  }

  /** Schedules the age retention of the current head (one pending age event per head). */
  scheduleAge(): void {
    const head = this.log.first();
    const maxAgeMs = this.config.maxAgeMs;
    if (head === undefined || maxAgeMs === undefined) return;
    this.schedule({
      at: head.publishedAt + maxAgeMs,
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
    const head = this.log.first();
    const maxAgeMs = this.config.maxAgeMs;
    if (head === undefined || maxAgeMs === undefined) return;
    if (head.seq !== e.seq || head.publishedAt + maxAgeMs !== e.at) return;
    this.retain(now);
  }

  /** Retained messages from `fromSeq`, at most `limit`. Read-only. */
  read(fromSeq: number, limit: number): TopicMessage[] {
    const out: TopicMessage[] = [];
    const first = this.log.first();
    if (first === undefined) return out;
    for (let seq = Math.max(fromSeq, first.seq); seq < this.nextSeq && out.length < limit; seq++) {
      const t = this.log.get(seq);
      if (t === undefined) continue;
      const m: TopicMessage = {
        seq: t.seq,
        id: t.id,
        body: t.buf.subarray(t.off, t.off + t.len),
        headers: t.headers ?? {},
        publishedAt: t.publishedAt,
      };
      out.push(t.group === undefined ? m : { ...m, group: t.group });
    }
    return out;
  }

  /** Fills a new subscription from the retained log, from `startSeq` on. */
  backfill(sub: Channel, startSeq: number, now: number): void {
    sub.startSeq = startSeq;
    for (const t of this.log.values()) if (t.seq >= startSeq) deliverTo(sub, t, now);
    sub.nextSeq = Math.max(startSeq, this.nextSeq);
  }
}

/** Gives one topic message to one subscription as a fresh stored message. */
export function deliverTo(sub: Channel, t: TopicMsg, now: number): void {
  const c = sub.config;
  const ttlAt = c.messageTtlMs === undefined
    ? t.ttlAt
    : Math.min(t.ttlAt, t.publishedAt + c.messageTtlMs);
  const rec: IdRecord | undefined = t.explicitId
    ? sub.ids.add(t.id, t.seq, t.publishedAt + c.dedupWindowMs)
    : undefined;
  const delayed = t.notBefore > now;
  const m: Msg = {
    seq: t.seq,
    id: t.id,
    rec,
    buf: t.buf,
    off: t.off,
    len: t.len,
    headers: t.headers,
    group: t.group,
    publishedAt: t.publishedAt,
    expiresAt: ttlAt,
    state: delayed ? MsgState.Delayed : MsgState.Ready,
    attempt: 0,
    at: delayed ? t.notBefore : 0,
  };
  sub.published++;
  sub.ids.expire(now);
  sub.insert(m);
}
