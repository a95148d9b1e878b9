/**
 * A session's subscriptions and deliveries. An MQTT session's filters are three durable quorumq
 * subscriptions on the MQTT topic, named from its client id: `…-q0` (at most once) holds the
 * filters granted QoS 0, `…-q1` and `…-q2` (at least once) those granted QoS 1 and 2. Their
 * filters are the subject patterns of the topic filters, so the session's state lives in the
 * replicated log and a client reconnecting to any node finds it; unacknowledged QoS 1 and 2
 * deliveries come back after their lease and are sent with DUP set (QoS 2: with the same packet
 * id, `inflight.ts`).
 *
 * @module
 */

import type { ISubscribePacket, IUnsubscribePacket, Packet } from "mqtt-packet";
import type { Logger } from "../log.ts";
import type { ApiDelivery } from "./broker_api.ts";
import type { InboundHost } from "./inbound.ts";
import { decodePayload, PAYLOAD_HEADER, publishedQos, RETAIN_HEADER } from "./payload.ts";
import {
  type KeptOptions,
  type SessionData,
  sessionKey,
  type SharedMembership,
} from "./session.ts";
import { exactlyOnceId, Inflight } from "./inflight.ts";
import { joinShared, type SessionLife, type Source } from "./subscriptions.ts";
import { pubrel, Qos2Out } from "./qos2_out.ts";
import { Parked } from "./parked.ts";
import { tooLargeFor } from "./packet_size.ts";
import { Receipts } from "./receipts.ts";
import { type FiltersByQos, type Qos, QOS_LEVELS, SessionFilters } from "./session_filters.ts";
import { checkpoint, FilterOptions } from "./filter_options.ts";
import { propertiesAt } from "./expiry.ts";
import { retainedFor } from "./retained.ts";
import { deliverableTopic, filterToPatterns, parseShared } from "./topics.ts";

/** Most QoS 1 deliveries awaiting PUBACK per session. */
export const INFLIGHT_MAX = 64;
const WAIT_MS = 5_000;

export class Outbound {
  readonly #host: InboundHost;
  /** Start afresh: the session's subscriptions are dropped at CONNECT. */
  readonly #clean: boolean;
  /** The session ends with the connection: its subscriptions are dropped then. */
  readonly #endsWithConnection: boolean;
  readonly #inflightMax: number;
  readonly #log: Logger;
  /** Topic filters by granted QoS. */
  readonly #filters: FiltersByQos = [new Set(), new Set(), new Set()];
  /** Where the filters are kept: the session's subscriptions. */
  readonly #stored: SessionFilters;
  /** QoS 1 and 2 deliveries awaiting the client. */
  readonly #inflight = new Inflight();
  /** Deliveries beyond the receive maximum, oldest first (bounded by the loops' receives). */
  readonly #parked = new Parked<Source>();
  readonly #qos2: Qos2Out;
  #running = false;
  /** The acks and nacks of what the session's subscriptions delivered. */
  readonly #receipts: Receipts;
  /** Shared subscriptions joined on this connection: `$share/g/f` → its loop's source. */
  readonly #shared = new Map<string, Source>();
  readonly #wakers = new Set<() => void>();
  readonly #abortQos0 = new AbortController();
  #stopped = false;
  /** The filters' v5 options: retain as published, No Local (what the session's messages carry). */
  readonly options: FilterOptions;
  /** A persistent session keeps its shared memberships and filter options with its claim. */
  readonly #keep: ((d: SessionData) => Promise<boolean>) | undefined;

  constructor(
    host: InboundHost,
    session: SessionLife,
    log: Logger,
    keep?: (d: SessionData) => Promise<boolean>,
  ) {
    this.#host = host;
    this.#keep = keep;
    this.#qos2 = new Qos2Out(
      host,
      (ids) => this.#settled(ids),
      (detail) => host.fail(0x80, detail),
    );
    this.#receipts = new Receipts(host.api, (e) => {
      log.warn("mqtt_ack_failed", { clientId: host.clientId, error: String(e) });
    });
    this.#stored = new SessionFilters(host.api, host.owner, () => host.live?.() ?? true);
    this.options = new FilterOptions(sessionKey(host.owner));
    this.#clean = session.cleanStart;
    this.#endsWithConnection = session.endsWithConnection;
    this.#inflightMax = Math.max(1, Math.min(INFLIGHT_MAX, session.receiveMaximum));
    this.#log = log;
  }

  /**
   * Loads a persistent session's filters (a clean start's were dropped with its claim) and the
   * v5 options kept of them; whether it had any.
   */
  async open(kept?: KeptOptions): Promise<boolean> {
    if (this.#clean) return false;
    const had = await this.#stored.load(this.#filters);
    if (kept !== undefined) this.options.restore(kept, (f) => this.#filters.some((s) => s.has(f)));
    return had;
  }

  /** Joins the shared subscriptions a persistent session had (kept with its claim). */
  async restoreShared(list: readonly SharedMembership[]): Promise<void> {
    for (const [topic, qos] of list) await this.#joinShared(topic, qos);
  }

  /** The shared subscriptions joined, to keep with the session. */
  sharedMemberships(): SharedMembership[] {
    return [...this.#shared].map(([topic, src]) => [topic, src.maxQos === 0 ? 0 : 1]);
  }

  start(): void {
    this.#running = true;
    for (const qos of QOS_LEVELS) {
      const filters = this.#filters[qos];
      this.#loop({ path: this.#stored.path(qos), qos, maxQos: qos, filters, active: true });
    }
  }

  /**
   * Stops delivering. The session's subscriptions are its claim's: they end with it (after the
   * session expiry), never here. Once.
   */
  stop(): void {
    this.#running = false;
    // Only QoS 0 receives in flight are aborted (else they would take messages away from the
    // session for nothing). A QoS 1/2 one that leased messages would lose its answer (a forwarded
    // one is cut) and they would wait out their lease: it ends within its wait, and what it got
    // goes back to the session at once (#deliver).
    this.#abortQos0.abort();
    this.#wakeAll();
    if (!this.#stopped) {
      // Sent, never PUBACKed: back to the session now (not at the lease's end), so the next
      // connection, on any node, gets them at once (with DUP: attempt > 1); a shared
      // subscription's, to the group's other members.
      const shared = new Set([...this.#shared.values()].map((s) => s.path));
      for (const { path, receipt, released } of this.#inflight.values()) {
        // No receipt: a retained message sent at SUBSCRIBE, or settled (QoS 2 after PUBREC).
        // Released and settling: the settle acks it, or its lease ends and it comes back.
        if (receipt === "" || released) continue;
        if (!this.#endsWithConnection || shared.has(path)) this.#receipts.nack(path, receipt);
      }
      this.#inflight.clear();
      this.#parked.drain((src, d) => {
        if (!this.#endsWithConnection || shared.has(src.path)) {
          this.#receipts.nack(src.path, d.receipt);
        }
      });
    }
    this.#stopped = true;
  }

  async subscribe(p: ISubscribePacket): Promise<void> {
    const v5 = this.#host.version === 5;
    const granted: number[] = [];
    const retainedFor: { filter: string; qos: Qos }[] = [];
    let sharedChanged = false;
    // Refused by the broker (past 64 patterns a level), a SUBSCRIBE changes nothing: kept, its
    // filters refused every later one, and a filter moved to a full level lost its messages.
    const undo = checkpoint([...this.#filters, ...this.options.sets()]);
    for (const s of p.subscriptions) {
      const shared = parseShared(s.topic);
      if (!this.#host.access.canSubscribe(shared?.filter ?? s.topic)) {
        this.#log.warn("mqtt_subscribe_not_authorized", {
          clientId: this.#host.clientId,
          filter: s.topic,
        });
        granted.push(v5 ? 0x87 : 0x80);
        continue;
      }
      if (s.topic.startsWith("$share/")) {
        // No retained messages for a shared subscription (MQTT 5, 4.8.2).
        granted.push(await this.#joinShared(s.topic, Math.min(s.qos, 1) as 0 | 1));
        sharedChanged = true;
        continue;
      }
      if ("error" in filterToPatterns(s.topic)) {
        granted.push(v5 ? 0x8f : 0x80);
        continue;
      }
      const q = Math.min(s.qos, 2) as Qos;
      const existed = this.#dropFilter(s.topic);
      this.#filters[q].add(s.topic);
      granted.push(q);
      // v5 retain handling: 0 send the retained messages, 1 only for a new subscription, 2 never.
      const rh = v5 ? s.rh ?? 0 : 0;
      if (rh === 0 || (rh === 1 && !existed)) retainedFor.push({ filter: s.topic, qos: q });
      this.options.set(s.topic, s, v5);
    }
    const failed = await this.#save();
    const codes = failed === undefined ? granted : granted.map(() => 0x80);
    if (failed !== undefined) this.#log.warn("mqtt_subscribe_failed", { detail: failed });
    if (failed !== undefined) undo();
    this.#host.send({ cmd: "suback", messageId: p.messageId, granted: codes } as Packet);
    if (failed !== undefined) return;
    for (const r of retainedFor) await this.#sendRetained(r.filter, r.qos);
    if (sharedChanged || this.options.changed()) await this.#keepData();
  }

  /**
   * The retained messages a new subscription gets (after its SUBACK), with RETAIN set, each at
   * the lower of the granted QoS and its own. A QoS 1 or 2 one awaits its PUBACK (QoS 2: PUBREC,
   * then PUBREL and PUBCOMP) on this connection only: it is not a delivery of the session's
   * subscription, so it is neither settled nor held in the session's claim, and not sent again
   * after a reconnect.
   */
  async #sendRetained(filter: string, granted: Qos): Promise<void> {
    for (const m of await retainedFor(this.#host.api, filter)) {
      if (!this.#running) return;
      const { topic, payload } = m;
      // Its properties as sent now (v5: with the message expiry left, 3.3.2.3.3), or expired.
      const props = () => this.#properties(m.headers, m.publishedAt);
      const first = props();
      const bytes = payload.length + (first === "expired" ? 0 : first?.bytes ?? 0);
      if (first === "expired" || tooLargeFor(this.#host, this.#log, topic, bytes)) continue;
      const qos = Math.min(granted, m.qos) as Qos;
      const packet = { cmd: "publish", topic, payload, qos, dup: false, retain: true } as const;
      if (qos === 0) {
        this.#host.send({ ...packet, ...(first && { properties: first.properties }), qos: 0 });
        continue;
      }
      const send = () => {
        const now = props(); // a parked one waited
        if (now === "expired") return;
        const messageId = this.#inflight.allocate();
        const entry = { path: "", receipt: "", qos, seq: m.seq, released: false, local: true };
        this.#inflight.set(messageId, entry);
        this.#host.send({ ...packet, ...(now && { properties: now.properties }), messageId });
      };
      if (this.#full()) this.#parked.send(send);
      else send();
    }
  }

  async unsubscribe(p: IUnsubscribePacket): Promise<void> {
    let sharedChanged = false;
    const undo = checkpoint([...this.#filters, ...this.options.sets()]);
    const codes = p.unsubscriptions.map((f) => {
      const shared = this.#shared.get(f);
      if (shared !== undefined) {
        shared.active = false;
        this.#shared.delete(f);
        sharedChanged = true;
        return 0;
      }
      this.options.drop(f);
      return this.#dropFilter(f) ? 0 : 0x11;
    });
    // Not written (no leader): the session keeps the filters, and the client is told (v3.1.1's
    // UNSUBACK has no code: no UNSUBACK). Answered as done, they came back with a reconnect.
    const failed = await this.#save();
    if (failed !== undefined) undo();
    if (failed !== undefined && this.#host.version !== 5) return this.#host.fail(0x80, failed);
    this.#host.send(
      (this.#host.version === 5
        ? { cmd: "unsuback", messageId: p.messageId, granted: codes.map((c) => failed ? 0x80 : c) }
        : { cmd: "unsuback", messageId: p.messageId }) as Packet,
    );
    if (sharedChanged || this.options.changed()) await this.#keepData();
  }

  /** Keeps the shared memberships and filter options with a persistent session's claim. */
  async #keepData(): Promise<void> {
    const data = { shared: this.sharedMemberships(), options: this.options.kept() };
    if (await this.#keep?.(data) !== false) return;
    this.#log.warn("mqtt_options_not_kept", { clientId: this.#host.clientId, bytes: "over 16 KB" });
  }

  /**
   * Joins `$share/{group}/{filter}`: one at-least-once subscription per (group, filter), which
   * every member's connection receives from, so each message goes to one member (competing
   * consumers). The SUBACK code.
   */
  async #joinShared(topic: string, maxQos: 0 | 1): Promise<number> {
    const joined = await joinShared(this.#host.api, topic, this.#host.version);
    if (typeof joined === "number") return joined;
    const old = this.#shared.get(topic);
    if (old !== undefined) old.active = false; // re-subscribed: one loop, the new one
    const src: Source = { ...joined, qos: 1, maxQos, active: true };
    this.#shared.set(topic, src);
    this.#loop(src);
    return maxQos;
  }

  /** Writes the filters that changed; an error text when the broker refused. */
  async #save(): Promise<string | undefined> {
    const failed = await this.#stored.save(this.#filters);
    if (failed === undefined) this.#wakeAll();
    return failed;
  }

  #wakeAll(): void {
    for (const w of this.#wakers) w();
    this.#wakers.clear();
  }

  puback(messageId: number): void {
    const f = this.#inflight.get(messageId);
    if (f === undefined || f.qos !== 1) return;
    this.#inflight.delete(messageId);
    if (f.receipt !== "") this.#receipts.ack(f.path, f.receipt);
    this.#unpark();
    this.#wakeAll();
  }

  /**
   * QoS 2, the client has the message: it is settled and its id held in the session's claim,
   * then PUBREL (`qos2_out.ts`); a PUBREC again gets PUBREL again (v5: 0x92 for an unknown id).
   */
  pubrec(messageId: number): void {
    const f = this.#inflight.get(messageId);
    if (f?.qos !== 2) return void this.#host.send(pubrel(this.#host.version, messageId, 0x92));
    if (f.released) {
      if (f.receipt === "") this.#host.send(pubrel(this.#host.version, messageId, 0));
      return; // settling: its PUBREL goes when that is committed
    }
    f.released = true;
    // A retained message sent at SUBSCRIBE: this connection's only, nothing to settle.
    if (f.local === true) return void this.#host.send(pubrel(this.#host.version, messageId, 0));
    this.#qos2.settle(messageId, f.path, f.receipt);
  }

  /** QoS 2 done: the id is free (in the claim too). */
  pubcomp(messageId: number): void {
    const f = this.#inflight.get(messageId);
    if (f === undefined || f.qos !== 2 || !f.released) return;
    this.#inflight.delete(messageId);
    if (f.local !== true) this.#qos2.done(messageId);
    this.#unpark();
    this.#wakeAll();
  }

  /**
   * The PUBRELs the session owed when this connection took it (PUBREC came on an earlier
   * connection, maybe on another node): sent again now, awaiting PUBCOMP.
   */
  resumePubrels(ids: readonly number[]): void {
    for (const id of ids) {
      this.#inflight.set(id, { path: "", receipt: "", qos: 2, seq: -1, released: true });
      this.#host.send(pubrel(this.#host.version, id, 0));
    }
  }

  /** A message's PUBLISH properties if sent now (`propertiesAt`), by this node's entry time. */
  #properties(headers: Record<string, string>, at: number) {
    const now = () => this.#host.entryTimeMs?.() ?? 0; // read only for a message with an expiry
    return propertiesAt(headers, at, now, this.#host.version === 5);
  }

  /** The client's receive maximum is reached: a new QoS 1 or 2 delivery waits (`#parked`). */
  #full(): boolean {
    return this.#inflight.size >= this.#inflightMax;
  }

  /** Sends the parked deliveries the receive maximum has room for now, oldest first. */
  #unpark(): void {
    this.#parked.release(() => this.#full(), (src, d) => this.#deliver(src, d), this.#running);
  }

  #settled(ids: number[]): void {
    for (const id of ids) {
      const f = this.#inflight.get(id);
      if (f === undefined || f.qos !== 2) continue;
      f.receipt = ""; // settled: nothing to nack when the connection goes
      this.#host.send(pubrel(this.#host.version, id, 0));
    }
  }

  /** Drops a filter from whichever QoS holds it; whether one did. */
  #dropFilter(filter: string): boolean {
    let had = false;
    for (const set of this.#filters) had = set.delete(filter) || had;
    return had;
  }

  /** Receives and delivers while connected (and, for a shared subscription, joined). */
  async #loop(src: Source): Promise<void> {
    const qos = src.qos;
    let failures = 0;
    while (this.#running && src.active) {
      const room = qos === 0 ? 256 : this.#inflightMax - this.#inflight.size - this.#parked.length;
      if (src.filters.size === 0 || room <= 0) {
        // Until a wake: filters saved, room freed (PUBACK, PUBCOMP) or the stop. No poll: one
        // each second kept a waker per loop per second (3 a second per idle connection).
        await new Promise<void>((r) => this.#wakers.add(r));
        continue;
      }
      const body = { max: Math.min(room, 256), waitMs: WAIT_MS };
      const signal = qos === 0 ? this.#abortQos0.signal : undefined;
      const a = await this.#host.api.call("POST", `${src.path}/receive`, body, {}, signal)
        .catch(() => ({ status: 0, body: undefined }));
      if (a.status !== 200) {
        failures++;
        await new Promise((r) => setTimeout(r, Math.min(100 * failures, 1000)));
        continue;
      }
      failures = 0;
      try {
        for (const d of a.body.messages as ApiDelivery[]) this.#deliver(src, d);
        // The next receive once these are written: a client that stops reading its socket holds
        // its receives back. QoS 0 deliveries have no acknowledgement window, and were kept
        // for it without bound.
        if (a.body.messages.length > 0) await this.#host.written?.();
      } catch (e) {
        // Nothing a delivery holds may take the node down (this loop's promise has no one to
        // catch it): the connection ends, and what it was sent goes back to the session.
        this.#host.fail(0x80, `delivery failed: ${e}`);
        this.stop();
      }
    }
  }

  #deliver(src: Source, d: ApiDelivery): void {
    const qos = src.qos;
    const topic = d.subject === null ? undefined : deliverableTopic(d.subject);
    const matches = topic !== undefined && this.options.matches(src.filters, topic, d.headers);
    const sentQos = Math.min(src.maxQos, publishedQos(d.headers["mqtt-qos"])) as Qos;
    if (!this.#running || !src.active) {
      // Received as the connection went: back to the session at once, for its next connection.
      if (qos > 0) this.#receipts.nack(src.path, d.receipt);
      return;
    }
    // v5: with the message expiry left now (`expiry.ts`). Expired since the broker handed it out
    // (in a receive's wait, or parked): not sent (3.3.2.3.3).
    const props = this.#properties(d.headers, d.publishedAt);
    if (!matches || props === "expired") {
      // Not for this session by MQTT's rules (a `$` topic under a first-level wildcard; its own
      // message under No Local), or no topic name a client may be sent (an HTTP subject).
      if (qos > 0) this.#receipts.ack(src.path, d.receipt);
      return;
    }
    const payload = decodePayload(d.body, d.headers[PAYLOAD_HEADER]);
    if (tooLargeFor(this.#host, this.#log, topic, payload.length + (props?.bytes ?? 0))) {
      // Beyond the client's Maximum Packet Size: dropped as if sent (MQTT 5, 3.1.2.11.4), else
      // the client closes (0x95) and gets it again on its next connection, and again.
      if (qos > 0) this.#receipts.ack(src.path, d.receipt);
      return;
    }
    // RETAIN is 0 on a delivery to a subscription that already existed, unless a v5 filter
    // asked to see it as published (retain as published).
    const retain = d.headers[RETAIN_HEADER] === "1" && this.options.retained(topic);
    if (sentQos === 0) {
      if (qos > 0) this.#receipts.ack(src.path, d.receipt);
      const p = { cmd: "publish", topic, payload, qos: 0, dup: false, retain } as const;
      return this.#host.send(props === undefined ? p : { ...p, properties: props.properties });
    }
    let messageId: number;
    if (sentQos === 2) {
      messageId = exactlyOnceId(d.seq);
      const held = this.#inflight.get(messageId);
      if (held !== undefined && (held.seq !== d.seq || held.path !== src.path)) {
        // Another message holds this id (seqs 65,535 apart): this one waits a little.
        this.#receipts.nack(src.path, d.receipt, 200);
        return;
      }
      if (held !== undefined) {
        // Its lease ended and it came back to this connection: the new receipt. The PUBLISH is
        // not sent again on this connection (MQTT 5 4.4.0-1), nor PUBREL before the PUBREC's
        // settle is committed (`#settled` sends it): the client takes the message at PUBREL, and
        // a settle refused or failed after that would bring it back, taken a second time.
        held.receipt = d.receipt;
        return;
      }
    } else if (d.attempt > 1 && this.#inflight.renew(src.path, d.seq, d.receipt)) {
      return; // sent on this connection, awaiting PUBACK: the new receipt, not a second PUBLISH
    } else messageId = this.#inflight.allocate();
    const qosSent = sentQos as 1 | 2;
    if (this.#inflight.get(messageId) === undefined && this.#full()) {
      // Beyond the receive maximum (another loop's deliveries took the room): it waits. Its
      // lease may end meanwhile and bring it back: the parked one takes the new receipt.
      return this.#parked.delivery(src, d);
    }
    if (this.#inflight.get(messageId) === undefined) {
      this.#inflight.set(messageId, {
        path: src.path,
        receipt: d.receipt,
        qos: qosSent,
        seq: d.seq,
        released: false,
      });
    }
    this.#host.send({
      cmd: "publish",
      topic,
      payload,
      qos: qosSent,
      dup: d.attempt > 1,
      retain,
      messageId,
      ...(props === undefined ? {} : { properties: props.properties }),
    });
  }
}
