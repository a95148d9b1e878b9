/**
 * A connection's Last Will as the message it becomes, and the checks that refuse a will at CONNECT
 * that could never be published. Pure.
 *
 * @module
 */

import type { IConnectPacket, IPublishPacket } from "mqtt-packet";
import { headersBeyondBounds, messageOf } from "./publish_message.ts";
import { topicToSubject } from "./topics.ts";

/** A CONNECT's Last Will. */
export type Will = NonNullable<IConnectPacket["will"]>;

/**
 * The message id of a connection's Last Will: its session's claim key and a uuid of the
 * connection (one will per connection: per will generation), at most 111 characters (the API's
 * ids: 256). The will's write is retried after its connection ended (503, 504, 421: up to 15 s);
 * with the same id on every retry, a retry of a publish that was applied (504, outcome unknown)
 * is a duplicate that the broker answers without storing it again (within the `mqtt` topic's
 * dedup window, 300 s by default), not a second will to the QoS 1 and 2 subscribers.
 */
export function willId(claim: string): string {
  return `${claim}.will.${crypto.randomUUID()}`;
}

/** The PUBLISH a will is published as. */
function willPublish(w: Will): IPublishPacket {
  return {
    cmd: "publish",
    topic: w.topic,
    payload: w.payload,
    qos: w.qos ?? 0,
    dup: false,
    retain: w.retain ?? false,
    // Its properties (MQTT 5 3.1.3.2): expiry, user properties, response topic, ... as a
    // PUBLISH's (the will delay is not one of them, and is not read).
    properties: w.properties as IPublishPacket["properties"],
  };
}

/** The message (the API's publish body) a will becomes, with its message `id`; or an error text. */
export function willMessage(w: Will, id: string): Record<string, unknown> | string {
  const m = messageOf(willPublish(w));
  return "error" in m ? m.error : { ...m.message, id };
}

/** Why a CONNECT's will is refused: the CONNACK reason (v5) and the log's detail. */
export interface WillRefusal {
  readonly reason: number;
  readonly detail: string;
}

/**
 * Why a will could never be published, or undefined: refused at CONNECT, not dropped (logged) at
 * the connection's end. A topic that is no valid topic name: 0x90, topic name invalid. A v5
 * property past the API's header bounds (a name of 256 characters, a value of 8,192: a user
 * property, content type, response topic, correlation data's base64): 0x83, implementation
 * specific error, MQTT 5 3.2.2.2's "the CONNECT is valid but is not accepted by this Server"
 * (0x99, payload format invalid, is for a payload that does not match its format indicator).
 */
export function willRefusal(w: Will): WillRefusal | undefined {
  const s = topicToSubject(w.topic);
  if ("error" in s) return { reason: 0x90, detail: `will topic: ${s.error}` };
  if (w.properties === undefined) return undefined;
  const m = messageOf(willPublish(w));
  const beyond = "error" in m ? m.error : headersBeyondBounds(m.message.headers as Headers);
  return beyond === undefined ? undefined : { reason: 0x83, detail: `will: ${beyond}` };
}

type Headers = Record<string, string>;
