/**
 * MQTT 5 Message Expiry Interval (3.3.2.3.3). At PUBLISH the interval becomes the message's TTL in
 * the broker (which drops it when that ends) and, as received, the header `mqtt-expiry` (seconds).
 * A PUBLISH sent to a v5 client MUST carry "the received value minus the time that the
 * Application Message has been waiting in the Server": the header's seconds less the entry time
 * since the message's `publishedAt`, rounded up (a message still held has at least 1 s left).
 * Entry time (docs/broker.md), not the wall clock: it is what `publishedAt` and the TTL count in.
 * Pure.
 *
 * @module
 */

import { EXPIRY_HEADER } from "./payload.ts";
import { deliveryProperties } from "./properties.ts";

/**
 * The seconds of expiry a message published at entry time `publishedAt` has left at entry time
 * `now` (a number, or read only for a message with an expiry): undefined when it has none, 0 when
 * it has expired (it is not sent).
 */
export function expiryLeft(
  headers: Readonly<Record<string, string>>,
  publishedAt: number,
  now: number | (() => number),
): number | undefined {
  const text = headers[EXPIRY_HEADER];
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (!Number.isInteger(seconds) || seconds <= 0) return undefined;
  const at = typeof now === "number" ? now : now();
  const leftMs = seconds * 1000 - Math.max(0, at - publishedAt);
  return leftMs <= 0 ? 0 : Math.min(seconds, Math.ceil(leftMs / 1000));
}

/** A PUBLISH's properties and a bound on their bytes in the packet (`deliveryProperties`). */
export type SentProperties = NonNullable<ReturnType<typeof deliveryProperties>>;

/**
 * The properties a PUBLISH of a message with `headers`, published at entry time `publishedAt`,
 * carries when sent at entry time `now`: for a v5 client its properties with the message expiry
 * left, none (undefined) for v3.1.1 or a message without any; `"expired"`: not to be sent.
 */
export function propertiesAt(
  headers: Readonly<Record<string, string>>,
  publishedAt: number,
  now: number | (() => number),
  v5: boolean,
): SentProperties | undefined | "expired" {
  const left = expiryLeft(headers, publishedAt, now);
  if (left === 0) return "expired";
  if (!v5) return undefined;
  const props = deliveryProperties(headers);
  if (left === undefined) return props;
  const properties = { ...props?.properties, messageExpiryInterval: left };
  return { properties, bytes: (props?.bytes ?? 4) + 5 };
}
