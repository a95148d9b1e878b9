/**
 * The common shape of an ack body checked without zod: `{ receipts }` and nothing else, 1 to
 * 1000 strings of 1 to 512 characters. Zod took ~0.2-0.6 µs a receipt, on the leader, for every
 * message a consumer acks (1000 receipts a request). What this takes, `ackSchema` takes too and
 * reads the same (the property test in settle_check_test.ts); anything else is left to zod,
 * whose problems stay the answer.
 *
 * @module
 */

import type { z } from "zod";
import type { ackSchema } from "./schemas.ts";

/** `json` as `ackSchema` reads it, when it is the common shape; else undefined. */
export function plainAck(json: unknown): z.output<typeof ackSchema> | undefined {
  if (typeof json !== "object" || json === null) return undefined;
  if (Object.getPrototypeOf(json) !== Object.prototype) return undefined;
  let keys = 0;
  for (const _ in json) keys++;
  const receipts = (json as { receipts?: unknown }).receipts;
  if (keys !== 1 || !Array.isArray(receipts)) return undefined;
  if (receipts.length < 1 || receipts.length > 1000) return undefined;
  for (let i = 0; i < receipts.length; i++) {
    const r: unknown = receipts[i];
    if (typeof r !== "string" || r.length < 1 || r.length > 512) return undefined;
  }
  return { receipts: receipts as string[] };
}
