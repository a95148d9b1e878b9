/**
 * The Idempotency-Key of a write and the fingerprint of its request, so that a retry with the
 * same key and the same request replays the stored answer and another request is a conflict.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Call } from "./call.ts";
import { validate } from "./body.ts";
import { idempotencyKeySchema } from "./schemas.ts";

/** The Idempotency-Key of the request with its fingerprint, or undefined when absent. */
export function idempotencyOf(
  call: Call,
  json: unknown,
): { key: string; fingerprint: string } | undefined {
  const header = call.header("idempotency-key");
  if (header === undefined) return undefined;
  const key = validate(idempotencyKeySchema, header, "header");
  return { key, fingerprint: fingerprint(call.method, call.path, json) };
}

/**
 * SHA-256 of method, path and the canonical JSON of the body (keys sorted, so the same request
 * with other whitespace or key order matches). A cryptographic hash rather than a fast 32/64-bit
 * one: keys come from clients and a collision would hand one request another's stored answer.
 * `node:crypto`'s synchronous hash costs ~3 µs here; `crypto.subtle.digest` is an async op that
 * cost ~30 µs and a thread-pool round trip per request, the largest cost of a publish in the
 * profile.
 */
export function fingerprint(method: string, path: string, json: unknown): string {
  const text = `${method.toUpperCase()} ${path}\n${canonicalJson(json)}`;
  return createHash("sha256").update(text).digest("base64");
}

/** JSON with object keys sorted at every level; `undefined` (no body) is `null`. */
export function canonicalJson(value: unknown): string {
  if (value === undefined || value === null) return "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const keys = Object.keys(value as Record<string, unknown>).sort();
    const parts = keys.map((k) =>
      `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`
    );
    return `{${parts.join(",")}}`;
  }
  return JSON.stringify(value);
}
