/**
 * A connection's Last Will as the message it becomes, and the checks that refuse a will at CONNECT
 * that could never be published. Pure.
 *
 * @module
 */

import type { IConnectPacket, IPublishPacket } from "mqtt-packet";
import { messageOf } from "./publish_message.ts";

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
