/**
 * The common shapes of a publish body checked without zod: one message with `body` and maybe
 * `id` (a string of 1-256 characters), `subject` and `headers` and nothing else, or a batch (`messages`, 1-1000 of them)
 * of such messages. Zod took ~70 µs to validate a batch of 100 of them, more than parsing its
 * JSON. What this takes, `publishSchema` takes too, and reads the same (the property test in
 * publish_check_test.ts); anything else (another field, a bad value) is left to zod, whose
 * problems stay the answer.
 *
 * @module
 */

import type { z } from "zod";
import type { publishSchema } from "./schemas.ts";
import { checkSubject } from "../broker/mod.ts";

/** `json` as `publishSchema` reads it, when it is one of the common shapes; else undefined. */
export function plainPublish(json: unknown): z.output<typeof publishSchema> | undefined {
  if (!isPlainObject(json)) return undefined;
  if (!("messages" in json)) return plainMessage(json) ? json as { body: unknown } : undefined;
  let keys = 0;
  for (const _ in json) keys++;
  const messages = json.messages;
  if (keys !== 1 || !Array.isArray(messages)) return undefined;
  if (messages.length < 1 || messages.length > 1000) return undefined;
  for (let i = 0; i < messages.length; i++) {
    const m: unknown = messages[i];
    if (!isPlainObject(m) || !plainMessage(m)) return undefined;
  }
  return json as { messages: { body: unknown }[] };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

/**
 * Only `body` (any JSON value) and maybe `id`, `subject` (a valid one) and `headers` (names of at
 * most 256 characters, string values of at most 8192): the MQTT gateway's messages have a subject
 * and headers, and zod's record check was 1.3-3.5 µs of each.
 */
function plainMessage(m: Record<string, unknown>): boolean {
  let body = false;
  for (const key in m) {
    if (key === "body") body = m.body !== undefined;
    else if (key === "id") {
      const id = m.id;
      if (typeof id !== "string" || id.length < 1 || id.length > 256) return false;
    } else if (key === "subject") {
      if (typeof m.subject !== "string" || checkSubject(m.subject) !== undefined) return false;
    } else if (key !== "headers" || !plainHeaders(m.headers)) return false;
  }
  return body;
}

/**
 * A record of string values, as `messageSchema`'s `headers` reads it. `__proto__` is left to zod
 * (its output would not have it as an own field).
 */
function plainHeaders(h: unknown): boolean {
  if (!isPlainObject(h)) return false;
  for (const name in h) {
    const v = h[name];
    if (name.length > 256 || name === "__proto__") return false;
    if (typeof v !== "string" || v.length > 8192) return false;
  }
  return true;
}
