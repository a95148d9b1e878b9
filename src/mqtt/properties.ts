/**
 * MQTT 5 PUBLISH properties through the broker. At PUBLISH the response topic, correlation data
 * (base64), content type and payload format indicator become headers of the gateway's own
 * (`mqtt-*`), beside the user properties (each a header); at delivery to a v5 client they come
 * back as properties, and every header that is not the gateway's own as a user property (an HTTP
 * publisher's headers too). The server MUST send them unaltered (MQTT 5 3.3.2-4, -15, -16, -17,
 * -20). A name or value a client may close on (`checkTopicName`'s characters) is left out, as is
 * a response topic that is no valid topic name. Pure.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { IPublishPacket } from "mqtt-packet";
import { EXPIRY_HEADER, FROM_HEADER, PAYLOAD_HEADER, RETAIN_HEADER } from "./payload.ts";
import { checkTopicName, hasUnsendable } from "./topics.ts";
import { pairsOfList, USER_PAIRS, type UserPairs } from "./user_order.ts";

const RESPONSE_TOPIC = "mqtt-response-topic";
const CORRELATION_DATA = "mqtt-correlation-data";
const CONTENT_TYPE = "mqtt-content-type";
const PAYLOAD_FORMAT = "mqtt-payload-format";
/**
 * The user properties as they came, as JSON `[[name, value], ...]`, when the headers cannot give
 * them back so (`user_order.ts`): a name that came more than once (its header holds its values
 * joined with `,`, which a value holding a `,` makes ambiguous, and MQTT 5 wants each sent on
 * unaltered, 3.3.2-17), or an order the headers' own does not keep (names that look like integers
 * go first in an object; MQTT 5 3.3.2.3.7 keeps their order). Messages from before session 15 may
 * hold the earlier form, `{name: [values]}` for the repeated names only, which is still read.
 */
export const REPEATED_HEADER = "mqtt-user-repeated";

/** The gateway's own headers: never taken from a user property, never sent as one. */
export const GATEWAY_HEADERS: ReadonlySet<string> = new Set([
  PAYLOAD_HEADER,
  "mqtt-qos",
  RETAIN_HEADER,
  FROM_HEADER,
  RESPONSE_TOPIC,
  CORRELATION_DATA,
  CONTENT_TYPE,
  PAYLOAD_FORMAT,
  EXPIRY_HEADER,
  REPEATED_HEADER,
]);

type Properties = NonNullable<IPublishPacket["properties"]>;

/** Adds a PUBLISH's response topic, correlation data, content type and format to `headers`. */
export function propertiesToHeaders(p: Properties, headers: Record<string, string>): void {
  if (p.responseTopic !== undefined) headers[RESPONSE_TOPIC] = p.responseTopic;
  if (p.correlationData !== undefined) {
    headers[CORRELATION_DATA] = Buffer.from(p.correlationData).toString("base64");
  }
  if (p.contentType !== undefined) headers[CONTENT_TYPE] = p.contentType;
  if (p.payloadFormatIndicator === true) headers[PAYLOAD_FORMAT] = "1";
}

/** A text a client may be sent in a property. */
const sendable = (s: string): boolean => !hasUnsendable(s);

/**
 * The properties a delivery of a message with `headers` carries to a v5 client, and a bound on
 * their bytes in the packet; undefined when there are none (an MQTT publisher's plain message).
 */
export function deliveryProperties(
  headers: Record<string, string>,
): { readonly properties: Properties; readonly bytes: number } | undefined {
  const out: Properties = {};
  let bytes = 0;
  let user: Record<string, string | string[]> | undefined;
  const json = headers[REPEATED_HEADER] === undefined ? undefined : listOf(headers);
  const pairs = pairsOfList(json, headers, GATEWAY_HEADERS);
  const repeated = pairs === undefined ? repeatedOf(json) : undefined;
  const ordered = pairs !== undefined && pairs.length > 0 &&
    pairs.every(([k, v]) => sendable(k) && sendable(v));
  if (ordered) {
    // As they came, in order (`orderedPublish` writes them so).
    user = {};
    for (const [k, v] of pairs) {
      const had = user[k];
      user[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
      bytes += 5 + 3 * (k.length + v.length);
    }
    (out as Record<symbol, UserPairs>)[USER_PAIRS] = pairs;
  }
  for (const name in headers) {
    if (ordered) break;
    if (!Object.hasOwn(headers, name) || GATEWAY_HEADERS.has(name)) continue;
    const value = headers[name];
    if (!sendable(name) || !sendable(value)) continue;
    const values = repeated?.get(name);
    // A repeated name's values, each on its own, while its header is still what they make.
    if (values !== undefined && values.join(",") === value && values.every(sendable)) {
      (user ??= {})[name] = values;
      bytes += values.length * (5 + 3 * name.length) + 3 * value.length;
      continue;
    }
    (user ??= {})[name] = value;
    bytes += 5 + 3 * (name.length + value.length);
  }
  if (user !== undefined) out.userProperties = user;
  const topic = headers[RESPONSE_TOPIC];
  if (topic !== undefined && checkTopicName(topic) === undefined) {
    out.responseTopic = topic;
    bytes += 3 + 3 * topic.length;
  }
  const data = headers[CORRELATION_DATA];
  if (data !== undefined) {
    out.correlationData = Buffer.from(data, "base64");
    bytes += 3 + out.correlationData.length;
  }
  const type = headers[CONTENT_TYPE];
  if (type !== undefined && sendable(type)) {
    out.contentType = type;
    bytes += 3 + 3 * type.length;
  }
  if (headers[PAYLOAD_FORMAT] === "1") {
    out.payloadFormatIndicator = true;
    bytes += 2;
  }
  return bytes === 0 ? undefined : { properties: out, bytes: bytes + 4 };
}

/** The JSON of a message's `REPEATED_HEADER`; undefined when it is not JSON. */
function listOf(headers: Record<string, string>): unknown {
  try {
    return JSON.parse(headers[REPEATED_HEADER]);
  } catch {
    return undefined;
  }
}

/** The repeated user properties of `REPEATED_HEADER`'s earlier form; none when it is not that. */
function repeatedOf(json: unknown): Map<string, string[]> | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined;
  const out = new Map<string, string[]>();
  for (const [name, values] of Object.entries(json)) {
    if (Array.isArray(values) && values.every((v) => typeof v === "string")) {
      out.set(name, values);
    }
  }
  return out;
}
