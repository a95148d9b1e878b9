/**
 * The delivery engine shared by queues and subscriptions: stored messages, the ready order,
 * fifo groups, leases, fenced receipts, settlement and stats. Folder-private.
 *
 * @module
 */

import type {
  Delivery,
  MessageStatus,
  PeekedMessage,
  QueueConfig,
  QueueStats,
  ReceiptResult,
  ReceiptStatus,
} from "./commands.ts";
import { type IdRecord, IdTable } from "./_id_table.ts";
import { type Msg, type MsgExtras, MsgState, MsgStore } from "./_msg_store.ts";
import { EventKind, NumberHeap, SeqQueue, type TimedEvent } from "./_structs.ts";

export { type Msg, MsgState };
import { decodeReceipt, encodeReceipt } from "./_receipts.ts";
export { decodeReceipt, encodeReceipt };

export type DeadReason = "max_deliveries" | "ttl";
const PEEK_STATE = ["ready", "delayed", "leased"] as const; // by MsgState

/** What a channel needs from the broker around it. */
export interface ChannelHost {
  schedule(e: TimedEvent): void;
  /** Called after `msg` left `from` as dead: move it to a dead-letter queue or drop it. */
  deadLetter(from: Channel, msg: Msg, reason: DeadReason, now: number): void;
}

interface Group {
  /** Seqs of the group's stored messages in seq order, from `head`; settled ones are skipped. */
  pending: number[];
  head: number;
}

type Resolved =
  | { ok: true; m: Msg }
  | { ok: false; status: Exclude<ReceiptStatus, "acked" | "nacked" | "extended"> };

/** A queue or a subscription: the delivery engine over its stored messages. */
export class Channel {
  readonly ids = new IdTable();
  readonly msgs = new MsgStore();
  /** Seqs that may be deliverable (fifo: group heads only); validated on pop. */
  readonly ready = new SeqQueue();
  /** Times of this channel's scheduled events, for the long-poll `nextAt`. */
  readonly times = new NumberHeap();
  readonly groups: Map<string, Group> | undefined;
  nReady = 0;
  nLeased = 0;
  nDelayed = 0;
  published = 0;
  acked = 0;
  /** Deliveries handed out by receive, every attempt counted. */
  delivered = 0;
  deadLettered = 0;
  bytes = 0;
  retentionDropped = 0;
  /** The next seq to store (queues: the next publish; subscriptions: the topic cursor). */
  nextSeq = 1;
  /** Subscriptions: the first topic seq they get. */
  startSeq = 1;
  /** Subscriptions: their topic, told of every message that leaves (interest retention). */
  owner: { released(seq: number): void } | undefined;

  constructor(
    readonly ord: number,
    /** Queue name, or `topic/subscription`: named in dead-letter headers. */
    readonly origin: string,
    public config: QueueConfig,
    readonly host: ChannelHost,
  ) {
    this.groups = config.fifo ? new Map() : undefined;
  }

  stats(): QueueStats {
    return {
      ready: this.nReady,
      leased: this.nLeased,
      delayed: this.nDelayed,
      published: this.published,
      acked: this.acked,
      delivered: this.delivered,
      deadLettered: this.deadLettered,
      bytes: this.bytes,
    };
  }

  #schedule(kind: EventKind, at: number, seq: number, attempt: number): void {
    this.host.schedule({ at, ord: this.ord, seq, kind, attempt });
    this.times.push(at);
  }

  #count(s: MsgState, d: number): void {
    if (s === MsgState.Ready) this.nReady += d;
    else if (s === MsgState.Delayed) this.nDelayed += d;
    else this.nLeased += d;
  }

  #setState(m: Msg, s: MsgState): void {
    this.#count(m.state, -1);
    m.state = s;
    this.#count(s, 1);
  }

  /**
   * Stores a new message (no deliveries yet): ready, or delayed until `at` (`state` Delayed).
   * Field by field: every node stores every publish so, and an object per message for it (as
   * `insert(m)` took) was garbage at once.
   */
  insertFields(
    seq: number,
    id: string,
    rec: number | undefined,
    buf: Uint8Array,
    off: number,
    len: number,
    extras: MsgExtras | undefined,
    publishedAt: number,
    expiresAt: number,
    state: MsgState,
    at: number,
  ): void {
    this.msgs.appendFields(
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
      0,
      at,
    );
    this.nextSeq = seq + 1;
    this.bytes += len;
    if (this.groups !== undefined) {
      const key = extras?.group ?? "";
      let g = this.groups.get(key);
      if (g === undefined) this.groups.set(key, g = { pending: [], head: 0 });
      g.pending.push(seq);
    }
    this.#count(state, 1);
    if (state === MsgState.Delayed) this.#schedule(EventKind.DelayEnd, at, seq, 0);
    else this.#makeReady(seq, extras?.group);
    if (expiresAt !== Infinity) this.#schedule(EventKind.Ttl, expiresAt, seq, 0);
  }

  /** Offers a message that just became ready to the ready order. */
  #makeReady(seq: number, group: string | undefined): void {
    if (this.groups === undefined) this.ready.push(seq);
    else this.#offerGroup(group ?? "");
  }

  /** fifo: skips settled seqs at the group's head, and offers the head if it is ready. */
  #offerGroup(key: string): void {
    const g = this.groups!.get(key);
    if (g === undefined) return;
    while (g.head < g.pending.length && this.msgs.get(g.pending[g.head]) === undefined) g.head++;
    if (g.head === g.pending.length) {
      this.groups!.delete(key);
      return;
    }
    if (g.head > 64 && g.head * 2 > g.pending.length) {
      g.pending = g.pending.slice(g.head);
      g.head = 0;
    }
    const m = this.msgs.get(g.pending[g.head])!;
    if (m.state === MsgState.Ready) this.ready.push(m.seq);
  }

  /** fifo: the first stored seq of the message's group (read-only). */
  #isHead(m: Msg): boolean {
    const g = this.groups!.get(m.group ?? "");
    if (g === undefined) return false;
    for (let i = g.head; i < g.pending.length; i++) {
      if (this.msgs.get(g.pending[i]) !== undefined) return g.pending[i] === m.seq;
    }
    return false;
  }

  /** Removes a message from storage; fifo groups move on to their next message. */
  #remove(m: Msg): void {
    this.msgs.delete(m.seq);
    this.bytes -= m.len;
    this.#count(m.state, -1);
    if (this.groups !== undefined) this.#offerGroup(m.group ?? "");
    this.owner?.released(m.seq);
  }

  #deadLetter(m: Msg, reason: DeadReason, now: number): void {
    this.#remove(m);
    this.deadLettered++;
    if (m.rec !== undefined) this.ids.settle(m.rec, "dead", m.attempt);
    this.host.deadLetter(this, m, reason, now);
  }

  /** Topic retention removed `seq`: drop it whatever its state (retention wins). */
  dropForRetention(seq: number): void {
    const m = this.msgs.get(seq);
    if (m === undefined) return;
    this.#remove(m);
    this.retentionDropped++;
    if (m.rec !== undefined) this.ids.settle(m.rec, "dead", m.attempt);
  }

  /**
   * Drops every ready and delayed message (leased ones stay with their consumers); their ids
   * read `dead` while remembered. Returns how many went.
   */
  purge(): number {
    const gone: Msg[] = [];
    this.msgs.forEach((m) => {
      if (m.state !== MsgState.Leased) gone.push(m);
    });
    for (const m of gone) {
      this.#remove(m);
      if (m.rec !== undefined) this.ids.settle(m.rec, "dead", m.attempt);
    }
    return gone.length;
  }

  /** Takes a ready or delayed message out to move it elsewhere (redrive); its id reads `acked`. */
  take(m: Msg): void {
    this.#remove(m);
    if (m.rec !== undefined) this.ids.settle(m.rec, "acked", m.attempt);
  }

  /** Up to `limit` stored messages from `fromSeq` in seq order, read-only (no lease, no count). */
  peek(fromSeq: number, limit: number): PeekedMessage[] {
    const out: PeekedMessage[] = [];
    for (const m of this.msgs.valuesFrom(fromSeq)) {
      if (out.length >= limit) break;
      const state = PEEK_STATE[m.state];
      const p: PeekedMessage = {
        seq: m.seq,
        id: m.id,
        state,
        attempt: m.attempt,
        body: m.buf.subarray(m.off, m.off + m.len),
        headers: m.headers ?? {},
        publishedAt: m.publishedAt,
      };
      out.push(m.group === undefined ? p : { ...p, group: m.group });
    }
    return out;
  }

  /**
   * Hands out up to `max` ready messages in seq order, leased for `leaseMs`. Without `answer`
   * the deliveries are not made (nobody reads them): the state changes the same.
   */
  receive(max: number, leaseMs: number, now: number, answer = true): Delivery[] {
    const out: Delivery[] = [];
    const atMostOnce = this.config.deliveryMode === "at_most_once";
    for (let n = 0; n < max;) {
      const seq = this.ready.pop();
      if (seq === undefined) break;
      const m = this.msgs.get(seq);
      if (m === undefined || m.state !== MsgState.Ready) continue;
      if (this.groups !== undefined && !this.#isHead(m)) continue;
      m.attempt++;
      this.delivered++;
      const leaseExpiresAt = atMostOnce ? now : now + leaseMs;
      n++;
      if (answer) out.push(this.#delivery(m, leaseExpiresAt));
      if (atMostOnce) {
        // Settled at delivery: nothing to ack, and it is never delivered again.
        this.#remove(m);
        this.acked++;
        if (m.rec !== undefined) this.ids.settle(m.rec, "acked", m.attempt);
      } else {
        this.#setState(m, MsgState.Leased);
        m.at = leaseExpiresAt;
        this.#schedule(EventKind.LeaseEnd, m.at, m.seq, m.attempt);
      }
    }
    return out;
  }

  #delivery(m: Msg, leaseExpiresAt: number): Delivery {
    const d: Delivery = {
      seq: m.seq,
      id: m.id,
      body: m.buf.subarray(m.off, m.off + m.len),
      headers: m.headers ?? {},
      attempt: m.attempt,
      receipt: encodeReceipt(this.ord, m.seq, m.attempt),
      leaseExpiresAt,
      publishedAt: m.publishedAt,
    };
    if (m.group !== undefined) Object.assign(d, { group: m.group });
    if (m.subject !== undefined) Object.assign(d, { subject: m.subject });
    return d;
  }

  /**
   * The delivery of message `seq` as attempt `attempt` while that attempt holds its lease (with
   * the lease end as it is now), for a repeated receive's stored answer. Read-only.
   */
  heldDelivery(seq: number, attempt: number): Delivery | undefined {
    const m = this.msgs.get(seq);
    if (m === undefined || m.state !== MsgState.Leased || m.attempt !== attempt) return undefined;
    return this.#delivery(m, m.at);
  }

  /** Finds the message a receipt names, if that attempt still holds the lease. Read-only. */
  resolve(receipt: string, now: number): Resolved {
    const r = decodeReceipt(receipt);
    if (r === undefined || r.ord !== this.ord || r.seq >= this.nextSeq) {
      return { ok: false, status: "not_found" };
    }
    const m = this.msgs.get(r.seq);
    if (m !== undefined) {
      if (m.state === MsgState.Leased && m.attempt === r.attempt) return { ok: true, m };
      return { ok: false, status: r.attempt > m.attempt ? "not_found" : "stale" };
    }
    const rec = this.ids.settledAt(r.seq, now);
    if (rec === undefined) return { ok: false, status: "not_found" };
    if (rec.state === "acked" && rec.attempt === r.attempt) {
      return { ok: false, status: "already_acked" };
    }
    return { ok: false, status: r.attempt > rec.attempt ? "not_found" : "stale" };
  }

  /** Acks the message of a resolved receipt. */
  ackResolved(m: Msg): void {
    this.#remove(m);
    this.acked++;
    if (m.rec !== undefined) this.ids.settle(m.rec, "acked", m.attempt);
  }

  ack(receipts: readonly string[], now: number, answer = true): ReceiptResult[] {
    return this.#settle(receipts, now, answer, "acked", (m) => this.ackResolved(m));
  }

  nack(receipts: readonly string[], delayMs: number, now: number, answer = true): ReceiptResult[] {
    return this.#settle(receipts, now, answer, "nacked", (m) => this.#leaseOver(m, delayMs, now));
  }

  extend(
    receipts: readonly string[],
    leaseMs: number,
    now: number,
    answer = true,
  ): ReceiptResult[] {
    return this.#settle(receipts, now, answer, "extended", (m) => {
      m.at = now + leaseMs;
      this.#schedule(EventKind.LeaseEnd, m.at, m.seq, m.attempt);
    });
  }

  /**
   * Runs `act` on each receipt's message whose attempt holds its lease, answering `status` for it
   * (with its lease end when extended), or why not. Without `answer` no result is made (empty).
   */
  #settle(
    receipts: readonly string[],
    now: number,
    answer: boolean,
    status: "acked" | "nacked" | "extended",
    act: (m: Msg) => void,
  ): ReceiptResult[] {
    if (!answer) {
      for (const receipt of receipts) {
        // What `resolve` finds held, without its answer objects.
        const r = decodeReceipt(receipt);
        const m = r === undefined || r.ord !== this.ord || r.seq >= this.nextSeq
          ? undefined
          : this.msgs.get(r.seq);
        if (m !== undefined && m.state === MsgState.Leased && m.attempt === r!.attempt) act(m);
      }
      return [];
    }
    return receipts.map((receipt): ReceiptResult => {
      const v = this.resolve(receipt, now);
      if (!v.ok) return { receipt, status: v.status };
      act(v.m);
      return status === "extended"
        ? { receipt, status, leaseExpiresAt: v.m.at }
        : { receipt, status };
    });
  }

  /** A lease ended (by time or nack): dead-letter, or back to the queue after `delayMs`. */
  #leaseOver(m: Msg, delayMs: number, now: number): void {
    const max = this.config.maxDeliveries;
    if (max !== undefined && m.attempt >= max) this.#deadLetter(m, "max_deliveries", now);
    else this.#requeue(m, delayMs, now);
  }

  #requeue(m: Msg, delayMs: number, now: number): void {
    if (m.expiresAt <= now) return this.#deadLetter(m, "ttl", now);
    if (delayMs > 0) {
      this.#setState(m, MsgState.Delayed);
      m.at = now + delayMs;
      this.#schedule(EventKind.DelayEnd, m.at, m.seq, 0);
    } else {
      this.#setState(m, MsgState.Ready);
      this.#makeReady(m.seq, m.group);
    }
  }

  /** Runs one due event; stale events (the message moved on) do nothing. */
  onEvent(e: TimedEvent, now: number): void {
    while (this.times.size > 0 && this.times.peek()! <= now) this.times.pop();
    const m = this.msgs.get(e.seq);
    if (m === undefined) return;
    switch (e.kind) {
      case EventKind.DelayEnd:
        if (m.state === MsgState.Delayed && m.at === e.at) this.#requeue(m, 0, now);
        return;
      case EventKind.LeaseEnd:
        if (m.state === MsgState.Leased && m.attempt === e.attempt && m.at === e.at) {
          this.#leaseOver(m, 0, now);
        }
        return;
      case EventKind.Ttl:
        // A leased message finishes its lease; the TTL is checked again when it comes back.
        if (m.expiresAt === e.at && m.state !== MsgState.Leased) this.#deadLetter(m, "ttl", now);
        return;
      case EventKind.TopicAge:
        throw new Error(`Cannot run event at ${e.at}: a topic event reached channel ${e.ord}`);
    }
  }

  /**
   * Counts one restored message and rebuilds its derived indexes and events (snapshot restore),
   * from its fields: a restore takes millions, and a view object each cost more than the rest.
   * Call it for every message in seq order, then `reindexGroups()` once: a restore can then work
   * in bounded steps instead of one pass over the whole channel.
   */
  reindexRestored(
    seq: number,
    state: MsgState,
    attempt: number,
    at: number,
    expiresAt: number,
    len: number,
    group: string | undefined,
  ): void {
    this.#count(state, 1);
    this.bytes += len;
    if (state === MsgState.Delayed) this.#schedule(EventKind.DelayEnd, at, seq, 0);
    if (state === MsgState.Leased) this.#schedule(EventKind.LeaseEnd, at, seq, attempt);
    if (expiresAt !== Infinity) this.#schedule(EventKind.Ttl, expiresAt, seq, 0);
    if (this.groups !== undefined) {
      const key = group ?? "";
      let g = this.groups.get(key);
      if (g === undefined) this.groups.set(key, g = { pending: [], head: 0 });
      g.pending.push(seq);
    } else if (state === MsgState.Ready) this.ready.push(seq);
  }

  /** Offers every fifo group's head, once all messages went through `reindexRestored`. */
  reindexGroups(): void {
    if (this.groups !== undefined) {
      for (const key of [...this.groups.keys()]) this.#offerGroup(key);
    }
  }

  /** Whether a receive now would get a message. Read-only. */
  deliverableNow(): boolean {
    if (this.groups === undefined) return this.nReady > 0;
    for (const seq of this.ready.values()) {
      const m = this.msgs.get(seq);
      if (m !== undefined && m.state === MsgState.Ready && this.#isHead(m)) return true;
    }
    return false;
  }

  /** The earliest pending delay or lease end (may be early, never late). */
  nextAt(): number | undefined {
    return this.times.peek();
  }

  /** Status of a message by seq, for the status query. */
  statusOf(id: string, seq: number, rec: IdRecord | undefined): MessageStatus | undefined {
    const m = this.msgs.get(seq);
    if (m !== undefined) {
      const state = PEEK_STATE[m.state];
      return { id, seq, state, attempt: m.attempt };
    }
    if (rec === undefined || rec.state === "live") return undefined;
    return { id, seq, state: rec.state, attempt: rec.attempt };
  }
}
