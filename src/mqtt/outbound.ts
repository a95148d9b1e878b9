/**
 * A session's subscriptions and deliveries. An MQTT session's filters are two durable quorumq
 * subscriptions on the MQTT topic, named from its client id: `…-q0` (at most once) holds the
 * filters granted QoS 0 and `…-q1` (at least once) those granted QoS 1 (QoS 2 is granted as 1).
 * Their filters are the subject patterns of the topic filters, so the session's state lives in
 * the replicated log and a client reconnecting to any node finds it; unacknowledged QoS 1
 * deliveries come back after their lease and are sent with DUP set.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { ISubscribePacket, IUnsubscribePacket, Packet } from "mqtt-packet";
import type { Logger } from "../log.ts";
import { type ApiDelivery, MQTT_TOPIC } from "./broker_api.ts";
import type { InboundHost } from "./inbound.ts";
import { decodePayload, PAYLOAD_HEADER } from "./payload.ts";
import { filterToPatterns, patternToFilter, subjectToTopic, topicMatches } from "./topics.ts";

/** How long a QoS 1 delivery waits for its PUBACK before it is sent again (with DUP). */
export const DELIVERY_LEASE_MS = 10_000;
/** Most QoS 1 deliveries awaiting PUBACK per session. */
export const INFLIGHT_MAX = 64;
const WAIT_MS = 5_000;

/** The subscription names of a client id's session. */
export function sessionSubscription(clientId: string, qos: 0 | 1): string {
  const h = createHash("sha256").update(clientId).digest("hex").slice(0, 40);
  return `mqtt-${h}-q${qos}`;
}

export class Outbound {
  readonly #host: InboundHost;
  readonly #clean: boolean;
  readonly #log: Logger;
  /** Topic filters by granted QoS. */
  readonly #filters: [Set<string>, Set<string>] = [new Set(), new Set()];
  readonly #inflight = new Map<number, string>();
  #nextId = 1;
  #running = false;
  #acks: string[] = [];
  #acking = false;
  readonly #wakers = new Set<() => void>();

  constructor(host: InboundHost, clean: boolean, log: Logger) {
    this.#host = host;
    this.#clean = clean;
    this.#log = log;
  }

  #path(qos: 0 | 1): string {
    return `/v1/topics/${MQTT_TOPIC}/subscriptions/${
      sessionSubscription(this.#host.clientId, qos)
    }`;
  }

  /** Loads (persistent) or drops (clean) the session; whether a session was present. */
  async open(): Promise<boolean> {
    let present = false;
    for (const qos of [0, 1] as const) {
      if (this.#clean) {
        await this.#host.api.write("DELETE", this.#path(qos), {});
        continue;
      }
      const a = await this.#host.api.call("GET", this.#path(qos));
      if (a.status !== 200) continue;
      present = true;
      for (const p of a.body.filters ?? []) this.#filters[qos].add(patternToFilter(p));
    }
    return present;
  }

  start(): void {
    this.#running = true;
    this.#loop(0);
    this.#loop(1);
  }

  /** Stops delivering; a clean session's subscriptions go with it. */
  stop(_graceful: boolean): void {
    if (!this.#running && !this.#clean) return;
    this.#running = false;
    this.#wakeAll();
    if (this.#clean) {
      for (const qos of [0, 1] as const) {
        this.#host.api.write("DELETE", this.#path(qos), {}).catch(() => {});
      }
    }
  }

  async subscribe(p: ISubscribePacket): Promise<void> {
    const v5 = this.#host.version === 5;
    const granted: number[] = [];
    for (const s of p.subscriptions) {
      const ok = !s.topic.startsWith("$share/") && !("error" in filterToPatterns(s.topic));
      if (!ok) {
        granted.push(s.topic.startsWith("$share/") && v5 ? 0x9e : v5 ? 0x8f : 0x80);
        continue;
      }
      const q = Math.min(s.qos, 1) as 0 | 1;
      this.#filters[0].delete(s.topic);
      this.#filters[1].delete(s.topic);
      this.#filters[q].add(s.topic);
      granted.push(q);
    }
    const failed = await this.#save();
    const codes = failed === undefined ? granted : granted.map(() => 0x80);
    if (failed !== undefined) this.#log.warn("mqtt_subscribe_failed", { detail: failed });
    this.#host.send({ cmd: "suback", messageId: p.messageId, granted: codes } as Packet);
  }

  async unsubscribe(p: IUnsubscribePacket): Promise<void> {
    const codes = p.unsubscriptions.map((f) => {
      const had = this.#filters[0].delete(f) || this.#filters[1].delete(f);
      return had ? 0 : 0x11;
    });
    await this.#save();
    this.#host.send(
      (this.#host.version === 5
        ? { cmd: "unsuback", messageId: p.messageId, granted: codes }
        : { cmd: "unsuback", messageId: p.messageId }) as Packet,
    );
  }

  /** Writes both subscriptions' filters; an error text when the broker refused. */
  async #save(): Promise<string | undefined> {
    for (const qos of [0, 1] as const) {
      const patterns = [...this.#filters[qos]].flatMap((f) => {
        const r = filterToPatterns(f);
        return "patterns" in r ? r.patterns : [];
      });
      if (patterns.length === 0) {
        await this.#host.api.write("DELETE", this.#path(qos), {});
        continue;
      }
      const body = {
        filters: [...new Set(patterns)],
        deliveryMode: qos === 0 ? "at_most_once" : "at_least_once",
        ...(qos === 1 ? { leaseMs: DELIVERY_LEASE_MS } : {}),
      };
      const a = await this.#host.api.write("PUT", this.#path(qos), body);
      if (a.status !== 200 && a.status !== 201) return `${a.status} ${a.body?.detail ?? ""}`;
    }
    this.#wakeAll();
    return undefined;
  }

  #wakeAll(): void {
    for (const w of this.#wakers) w();
    this.#wakers.clear();
  }

  puback(messageId: number): void {
    const receipt = this.#inflight.get(messageId);
    if (receipt === undefined) return;
    this.#inflight.delete(messageId);
    this.#acks.push(receipt);
    this.#flushAcks();
    this.#wakeAll();
  }

  async #flushAcks(): Promise<void> {
    if (this.#acking) return;
    this.#acking = true;
    try {
      for (let i = 0; this.#acks.length > 0 && i < 100_000; i++) {
        const receipts = this.#acks.splice(0, 1000);
        await this.#host.api.write("POST", `${this.#path(1)}/ack`, { receipts });
      }
    } finally {
      this.#acking = false;
    }
  }

  /** Receives and delivers while connected. */
  async #loop(qos: 0 | 1): Promise<void> {
    let failures = 0;
    while (this.#running) {
      const room = qos === 0 ? 256 : INFLIGHT_MAX - this.#inflight.size;
      if (this.#filters[qos].size === 0 || room <= 0) {
        await new Promise<void>((r) => {
          this.#wakers.add(r);
          setTimeout(r, 1000);
        });
        continue;
      }
      const a = await this.#host.api.call("POST", `${this.#path(qos)}/receive`, {
        max: Math.min(room, 256),
        waitMs: WAIT_MS,
      }).catch(() => ({ status: 0, body: undefined }));
      if (a.status !== 200) {
        failures++;
        await new Promise((r) => setTimeout(r, Math.min(100 * failures, 1000)));
        continue;
      }
      failures = 0;
      for (const d of a.body.messages as ApiDelivery[]) this.#deliver(qos, d);
    }
  }

  #deliver(qos: 0 | 1, d: ApiDelivery): void {
    const topic = d.subject === null ? undefined : subjectToTopic(d.subject);
    const matches = topic !== undefined &&
      [...this.#filters[qos]].some((f) => topicMatches(f, topic));
    const sentQos = Math.min(qos, Number(d.headers["mqtt-qos"] ?? 1)) as 0 | 1;
    if (!matches || !this.#running) {
      // Not for this session by MQTT's rules (a `$` topic under a first-level wildcard).
      if (qos === 1) this.#acks.push(d.receipt), this.#flushAcks();
      return;
    }
    const payload = decodePayload(d.body, d.headers[PAYLOAD_HEADER]);
    if (sentQos === 0) {
      if (qos === 1) this.#acks.push(d.receipt), this.#flushAcks();
      this.#host.send({ cmd: "publish", topic, payload, qos: 0, dup: false, retain: false });
      return;
    }
    const messageId = this.#allocate();
    this.#inflight.set(messageId, d.receipt);
    this.#host.send({
      cmd: "publish",
      topic,
      payload,
      qos: 1,
      dup: d.attempt > 1,
      retain: false,
      messageId,
    });
  }

  #allocate(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.#nextId;
      this.#nextId = id === 65535 ? 1 : id + 1;
      if (!this.#inflight.has(id)) return id;
    }
    throw new Error("no free packet id");
  }
}
