/**
 * How large a PUBLISH to a client can be, for a v5 client's Maximum Packet Size (MQTT 5,
 * 3.1.2.11.4: the server must not send it a larger packet, and drops such a message as if sent).
 *
 * @module
 */

import type { Logger } from "../log.ts";

const encoder = new TextEncoder();

/**
 * The bytes of a PUBLISH of `topic` with a payload of `payloadBytes`, counted with its whole
 * topic, a packet id and a topic alias property (so at most those few bytes more than it may
 * take with an alias or at QoS 0); a cheap answer below `max` when it plainly fits.
 */
export function publishBytesAtMost(topic: string, payloadBytes: number, max: number): number {
  // A UTF-16 unit is at most 3 bytes of UTF-8: plainly within `max`, no encoding needed.
  if (payloadBytes + 3 * topic.length < max - 16) return payloadBytes + 3 * topic.length;
  // The remaining length: topic (2 + its UTF-8), packet id 2, properties 1 + alias 3, payload.
  const rest = 2 + encoder.encode(topic).length + 2 + 4 + payloadBytes;
  return 1 + (rest < 128 ? 1 : rest < 16_384 ? 2 : rest < 2_097_152 ? 3 : 4) + rest;
}

/**
 * Whether a PUBLISH of `topic` and `payloadBytes` (its properties' bytes included) may pass the
 * client's Maximum Packet Size (`host.clientMaxPacketBytes`; undefined: no bound but the
 * protocol's); logged `mqtt_delivery_too_large`.
 */
export function tooLargeFor(
  host: { readonly clientMaxPacketBytes?: number | undefined; readonly clientId: string },
  log: Logger,
  topic: string,
  payloadBytes: number,
): boolean {
  const max = host.clientMaxPacketBytes;
  if (max === undefined) return false;
  const total = publishBytesAtMost(topic, payloadBytes, max);
  if (total <= max) return false;
  log.warn("mqtt_delivery_too_large", {
    clientId: host.clientId,
    topic,
    bytes: total,
    clientMaxPacketBytes: max,
  });
  return true;
}
