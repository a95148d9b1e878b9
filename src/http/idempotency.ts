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

/** Text to write as it is, among the values still to write (`canonicalJson`'s work list). */
class Literal {
  constructor(readonly text: string) {}
}
const COMMA = new Literal(",");
const CLOSE_ARRAY = new Literal("]");
const CLOSE_OBJECT = new Literal("}");

/**
 * JSON with object keys sorted at every level; `undefined` (no body) is `null`. A work list, not
 * recursion: a body is any JSON the request parser took, nested as deep as it likes (100,000
 * levels of `[` are 200 KB), and a recursive walk ended such a request in a stack overflow, a 500.
 */
export function canonicalJson(value: unknown): string {
  let out = "";
  const todo: unknown[] = [value];
  while (todo.length > 0) {
    const v = todo.pop();
    if (v instanceof Literal) out += v.text;
    else if (v === undefined || v === null) out += "null";
    else if (Array.isArray(v)) {
      out += "[";
      todo.push(CLOSE_ARRAY);
      for (let i = v.length - 1; i >= 0; i--) {
        todo.push(v[i]);
        if (i > 0) todo.push(COMMA);
      }
    } else if (typeof v === "object") {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o).sort();
      out += "{";
      todo.push(CLOSE_OBJECT);
      for (let i = keys.length - 1; i >= 0; i--) {
        todo.push(o[keys[i]]);
        todo.push(new Literal(`${i > 0 ? "," : ""}${JSON.stringify(keys[i])}:`));
      }
    } else out += JSON.stringify(v);
  }
  return out;
}
