/**
 * A connection's PUBLISHes into the replicated log, in the order they arrived: consecutive QoS 0
 * and 1 messages go as one batch publish (one entry, so many in flight cost one commit), each
 * QoS 1 PUBACK after the batch is committed; a QoS 2 message is published under an
 * Idempotency-Key named by (client id, packet id) and PUBREC answered after commit, so the same
 * PUBLISH sent again, to this node or any other, is not applied twice; PUBREL releases the key
 * (after commit, PUBCOMP), and the packet id may carry a new message.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { IConnectPacket, IPublishPacket, IPubrelPacket, Packet } from "mqtt-packet";
import { type ApiAnswer, type BrokerApi, MQTT_TOPIC } from "./broker_api.ts";
import { encodePayload, PAYLOAD_HEADER, RETAIN_HEADER } from "./payload.ts";
import { topicToSubject } from "./topics.ts";

/** The longest message expiry kept, in seconds: the API's longest duration (30 days). */
const TTL_S_MAX = 30 * 24 * 3600;
/** Most messages in one batch publish (the API's bound). */
const BATCH_MAX = 1000;

type Item = { kind: "publish"; p: IPublishPacket } | { kind: "pubrel"; p: IPubrelPacket };

export interface InboundHost {
  readonly api: BrokerApi;
  readonly clientId: string;
  readonly version: number;
  send(p: Packet): void;
  /** Ends the connection: a v5 DISCONNECT with `reason` first. */
  fail(reason: number, detail: string): void;
}

/** The key that makes a QoS 2 PUBLISH apply once: the client's id hashed, and the packet id. */
export function qos2Key(clientId: string, messageId: number): string {
  const h = createHash("sha256").update(clientId).digest("hex").slice(0, 40);
  return `mqtt-qos2.${h}.${messageId}`;
}

/** The message a PUBLISH becomes (the API's publish body), or an error text. */
export function messageOf(p: IPublishPacket): { message: Record<string, unknown> } | {
  error: string;
} {
  const s = topicToSubject(p.topic);
  if ("error" in s) return { error: s.error };
  const payload = typeof p.payload === "string" ? new TextEncoder().encode(p.payload) : p.payload;
  const { body, kind } = encodePayload(payload);
  const headers: Record<string, string> = { [PAYLOAD_HEADER]: kind, "mqtt-qos": String(p.qos) };
  // RETAIN: the message is also its topic's retained message; an empty payload clears it.
  const retain = p.retain ? { retain: payload.length === 0 ? "clear" : "set" } : {};
  if (p.retain) headers[RETAIN_HEADER] = "1";
  const user = p.properties?.userProperties;
  if (user !== undefined) {
    for (const [k, v] of Object.entries(user)) {
      if (!Object.hasOwn(headers, k)) headers[k] = Array.isArray(v) ? v.join(",") : String(v);
    }
  }
  // MQTT 5 message expiry: the message's TTL, in every subscription it is routed to.
  const expiry = p.properties?.messageExpiryInterval;
  const ttl = expiry === undefined || expiry <= 0
    ? {}
    : { ttlMs: Math.min(expiry, TTL_S_MAX) * 1000 };
  return { message: { subject: s.subject, body, headers, ...ttl, ...retain } };
}

export class Inbound {
  readonly #host: InboundHost;
  readonly #queue: Item[] = [];
  #pumping = false;

  constructor(host: InboundHost) {
    this.#host = host;
  }

  publish(p: IPublishPacket): void {
    this.#queue.push({ kind: "publish", p });
    this.#pump();
  }

  pubrel(p: IPubrelPacket): void {
    this.#queue.push({ kind: "pubrel", p });
    this.#pump();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (let i = 0; this.#queue.length > 0 && i < 1_000_000; i++) {
        const head = this.#queue[0];
        if (head.kind === "pubrel") {
          this.#queue.shift();
          await this.#release(head.p);
        } else if (head.p.qos === 2) {
          this.#queue.shift();
          await this.#exactlyOnce(head.p);
        } else {
          let n = 0;
          while (
            n < this.#queue.length && n < BATCH_MAX && this.#queue[n].kind === "publish" &&
            (this.#queue[n].p as IPublishPacket).qos < 2
          ) n++;
          const batch = this.#queue.splice(0, n).map((it) => it.p as IPublishPacket);
          await this.#batch(batch);
        }
      }
    } catch (e) {
      this.#host.fail(0x80, `publish failed: ${e}`);
    } finally {
      this.#pumping = false;
    }
  }

  /** Publishes a Last Will (no packet id, nothing to answer); a refusal is only logged. */
  async will(w: NonNullable<IConnectPacket["will"]>): Promise<ApiAnswer | string> {
    const m = messageOf({
      cmd: "publish",
      topic: w.topic,
      payload: w.payload,
      qos: w.qos ?? 0,
      dup: false,
      retain: w.retain ?? false,
      ...(w.properties?.userProperties
        ? { properties: { userProperties: w.properties.userProperties } }
        : {}),
    });
    if ("error" in m) return m.error;
    return await this.#post(m.message);
  }

  async #batch(batch: IPublishPacket[]): Promise<void> {
    const messages: Record<string, unknown>[] = [];
    for (const p of batch) {
      const m = messageOf(p);
      if ("error" in m) {
        return this.#host.fail(0x90, `topic ${JSON.stringify(p.topic)}: ${m.error}`);
      }
      messages.push(m.message);
    }
    const a = await this.#post({ messages });
    if (a.status !== 201) return this.#refused(a);
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i];
      if (p.qos !== 1) continue;
      const r = a.body.results[i];
      const ok = r !== undefined && r.seq !== undefined;
      this.#host.send(this.#ack("puback", p.messageId ?? 0, ok ? 0 : 0x80));
    }
  }

  async #exactlyOnce(p: IPublishPacket): Promise<void> {
    const m = messageOf(p);
    if ("error" in m) return this.#host.fail(0x90, `topic ${JSON.stringify(p.topic)}: ${m.error}`);
    const key = qos2Key(this.#host.clientId, p.messageId ?? 0);
    const a = await this.#post(m.message, { "idempotency-key": key });
    if (a.status === 409) {
      // The packet id still holds another message (no PUBREL came for it): a protocol error.
      return this.#host.fail(0x82, `QoS 2 packet id ${p.messageId} reused before PUBREL`);
    }
    if (a.status !== 201 && a.status !== 200) return this.#refused(a);
    this.#host.send(this.#ack("pubrec", p.messageId ?? 0, 0));
  }

  async #release(p: IPubrelPacket): Promise<void> {
    const key = qos2Key(this.#host.clientId, p.messageId ?? 0);
    const a = await this.#host.api.write("DELETE", `/v1/idempotency-keys/${key}`, undefined);
    if (a.status !== 204) return this.#refused(a);
    this.#host.send(this.#ack("pubcomp", p.messageId ?? 0, 0));
  }

  async #post(body: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer> {
    const path = `/v1/topics/${MQTT_TOPIC}/messages`;
    let a = await this.#host.api.write("POST", path, body, headers);
    if (a.status === 404 && a.body?.type === "topic_not_found") {
      await this.#host.api.ensureTopic();
      a = await this.#host.api.write("POST", path, body, headers);
    }
    return a;
  }

  #refused(a: ApiAnswer): void {
    const reason = a.status === 401 || a.status === 403 ? 0x87 : a.status === 413 ? 0x95 : 0x80;
    this.#host.fail(reason, `the broker answered ${a.status} ${a.body?.detail ?? ""}`);
  }

  #ack(cmd: "puback" | "pubrec" | "pubcomp", messageId: number, reasonCode: number): Packet {
    return this.#host.version === 5
      ? { cmd, messageId, reasonCode } as Packet
      : { cmd, messageId } as Packet;
  }
}
