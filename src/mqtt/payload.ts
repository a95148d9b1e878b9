/**
 * MQTT payloads as message bodies (docs/mqtt.md). A message body is a JSON value, so a payload is
 * stored as the JSON text itself when it is JSON in canonical form (HTTP consumers see the value,
 * and MQTT subscribers get the same bytes back), otherwise as a JSON string: the text when it is
 * UTF-8, base64 when it is not. The header `mqtt-payload` (`json`, `text`, `base64`) says which.
 * A message without it (an HTTP publisher's) reaches MQTT subscribers as its JSON text.
 *
 * @module
 */

import { Buffer, isAscii } from "node:buffer";

export const PAYLOAD_HEADER = "mqtt-payload";
/** Set ("1") on a message published with RETAIN (v5 "retain as published" shows it). */
export const RETAIN_HEADER = "mqtt-retain";
/** A message's MQTT 5 message expiry interval as received, in seconds (`expiry.ts`). */
export const EXPIRY_HEADER = "mqtt-expiry";
/** The publishing session's claim key, while it has an MQTT 5 No Local filter (`filter_options.ts`). */
export const FROM_HEADER = "mqtt-from";

// `ignoreBOM`: a leading U+FEFF is the payload's own (the default decoder drops it).
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The body value and the `mqtt-payload` header of a payload. */
export function encodePayload(payload: Uint8Array): { body: unknown; kind: string } {
  const text = textOf(payload);
  if (text === undefined) {
    return { body: Buffer.from(payload).toString("base64"), kind: "base64" };
  }
  // Only text that starts like a JSON value is parsed: a failed parse throws, and most MQTT
  // payloads that are not JSON would pay for an exception each.
  if (mayBeJson(payload)) {
    try {
      const value = JSON.parse(text);
      if (JSON.stringify(value) === text) return { body: value, kind: "json" };
    } catch {
      // Not JSON: stored as a string.
    }
  }
  return { body: text, kind: "text" };
}

/** The payload as text, or undefined when it is not UTF-8. */
function textOf(payload: Uint8Array): string | undefined {
  // ASCII (most payloads) reads the same as Latin-1, which is built without a decoder call: a
  // 256-byte payload took ~0.4-0.9 µs through the fatal decoder, ~0.1 µs this way.
  if (isAscii(payload)) {
    // A PUBLISH's payload is a `Buffer` already (a view of the read: `fast_packets.ts`): no
    // second view of it (a view per payload was a third of this call).
    const b = payload instanceof Buffer
      ? payload
      : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    return b.toString("latin1");
  }
  try {
    return utf8.decode(payload);
  } catch {
    return undefined;
  }
}

/** Whether the first byte can start canonical JSON: `{ [ " - 0-9 t f n`. */
function mayBeJson(payload: Uint8Array): boolean {
  if (payload.length === 0) return false;
  const c = payload[0];
  return c === 0x7b || c === 0x5b || c === 0x22 || c === 0x2d || (c >= 0x30 && c <= 0x39) ||
    c === 0x74 || c === 0x66 || c === 0x6e;
}

/**
 * The QoS a delivered message was published with, from its `mqtt-qos` header: "0" or "2", else
 * 1. The gateway writes "0", "1" or "2"; a message without it (an HTTP publisher's) goes as QoS
 * 1, and so does one whose header an HTTP publisher set to any other text (the API does not check
 * it): a QoS MQTT has no packet for threw in the packet writer and took the node down.
 */
export function publishedQos(header: string | undefined): 0 | 1 | 2 {
  return header === "0" ? 0 : header === "2" ? 2 : 1;
}

/** The payload bytes of a delivered body, by its `mqtt-payload` header. */
export function decodePayload(body: unknown, kind: string | undefined): Buffer {
  if (kind === "base64" && typeof body === "string") return Buffer.from(body, "base64");
  if (kind === "text" && typeof body === "string") return Buffer.from(body, "utf8");
  return Buffer.from(JSON.stringify(body) ?? "null", "utf8");
}
