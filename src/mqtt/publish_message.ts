/**
 * The message a PUBLISH becomes: the API's publish body, its payload encoded (`payload.ts`), the
 * MQTT facts as headers, a v5 client's properties as headers too (`properties.ts`), its expiry
 * and retain.
 *
 * @module
 */

import type { IPublishPacket } from "mqtt-packet";
import { encodePayload, EXPIRY_HEADER, PAYLOAD_HEADER, RETAIN_HEADER } from "./payload.ts";
import { GATEWAY_HEADERS, propertiesToHeaders, REPEATED_HEADER } from "./properties.ts";
import { jsonBytesAtMost } from "./json_bound.ts";
import { bodyJsonBytes } from "./body_bytes.ts";
import { JSON_BODY_BYTES } from "../http/mod.ts";
import { topicToSubject } from "./topics.ts";
import { userHeaders } from "./user_order.ts";

/** The longest TTL a message may have in the broker, in seconds: the API's longest (30 days). */
const TTL_S_MAX = 30 * 24 * 3600;

/** The API's bounds on a message's header (its message schema): a name's and a value's length. */
const HEADER_NAME_MAX = 256;
const HEADER_VALUE_MAX = 8192;

/**
 * Why the API would refuse a message with `headers` (a v5 property made a header past the API's
 * bounds: a user property, content type or response topic, a correlation data's base64), or
 * undefined. MQTT lets each be up to 65,535 bytes.
 */
export function headersBeyondBounds(headers: Readonly<Record<string, string>>): string | undefined {
  for (const name in headers) {
    if (name.length > HEADER_NAME_MAX) return `a property name of ${name.length} characters`;
    const n = headers[name].length;
    if (n > HEADER_VALUE_MAX) return `property ${name.slice(0, 64)} of ${n} characters`;
  }
  return undefined;
}

/** The message a PUBLISH becomes (the API's publish body), or an error text. */
export function messageOf(p: IPublishPacket): { message: Record<string, unknown> } | {
  error: string;
} {
  const s = topicToSubject(p.topic);
  if ("error" in s) return { error: s.error };
  return { message: messageTo(s.subject, p) };
}

const QOS_TEXT = ["0", "1", "2"];

/** The message a PUBLISH becomes, its topic already mapped to `subject`. */
export function messageTo(subject: string, p: IPublishPacket): Record<string, unknown> {
  const payload = typeof p.payload === "string" ? new TextEncoder().encode(p.payload) : p.payload;
  const { body, kind } = encodePayload(payload);
  // Literal names (PAYLOAD_HEADER's), not computed ones: a literal of known shape is cheaper.
  const headers: Record<string, string> = { "mqtt-payload": kind, "mqtt-qos": QOS_TEXT[p.qos] };
  if (p.retain) headers[RETAIN_HEADER] = "1";
  if (p.properties !== undefined) propertiesToHeaders(p.properties, headers);
  if (p.properties?.userProperties !== undefined) {
    // Never the gateway's own headers (`mqtt-retain` would make a plain message look retained
    // to a "retain as published" subscriber, `mqtt-from` hide it from a No Local one). What the
    // headers cannot give back as it came (a repeated name, an order) is kept as a list.
    const list = userHeaders(p, headers, GATEWAY_HEADERS);
    // Past the header bound the list is left out (the joined values go), not the message refused.
    const json = list === undefined ? undefined : JSON.stringify(list);
    if (json !== undefined && json.length <= HEADER_VALUE_MAX) headers[REPEATED_HEADER] = json;
  }
  // The body's JSON bytes where the payload shows them (`bodyJsonBytes`): the API stores them.
  const message: Record<string | symbol, unknown> = { subject, body, headers };
  const bytes = bodyJsonBytes(payload, kind);
  if (bytes !== undefined) message[JSON_BODY_BYTES] = bytes;
  // MQTT 5 message expiry: as received in a header, which a delivery's interval left is counted
  // from (`expiry.ts`), and the message's TTL in every subscription it is routed to when the
  // broker can hold it that long. A longer one gets no TTL: kept while a subscription holds it,
  // as a message without expiry, and not sent once its interval has passed (the gateway checks
  // each delivery). A TTL of 30 days would drop it before the interval its subscribers are told.
  const expiry = p.properties?.messageExpiryInterval;
  if (expiry !== undefined && expiry > 0) {
    if (expiry <= TTL_S_MAX) message.ttlMs = expiry * 1000;
    headers[EXPIRY_HEADER] = String(expiry);
  }
  // RETAIN: the message is also its topic's retained message; an empty payload clears it.
  if (p.retain) message.retain = payload.length === 0 ? "clear" : "set";
  return message;
}

/**
 * A bound on the UTF-8 bytes of `message`'s JSON text (`jsonBytesAtMost`): a body stored as the
 * payload's own JSON text (`mqtt-payload: json`, canonical) is the payload's bytes.
 */
export function messageBytesAtMost(message: Record<string, unknown>, p: IPublishPacket): number {
  const json = typeof p.payload !== "string" &&
    (message.headers as Record<string, string>)[PAYLOAD_HEADER] === "json";
  return json
    ? jsonBytesAtMost(message, { key: "body", bytes: p.payload.length })
    : jsonBytesAtMost(message);
}
