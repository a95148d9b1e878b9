/**
 * The common shapes of a publish body checked without zod: one message with `body` and maybe
 * `id` (a string of 1-256 characters) and nothing else, or a batch (`messages`, 1-1000 of them)
 * of such messages. Zod took ~70 µs to validate a batch of 100 of them, more than parsing its
 * JSON. What this takes, `publishSchema` takes too, and reads the same (the property test in
 * publish_check_test.ts); anything else (another field, a bad value) is left to zod, whose
 * problems stay the answer.
 *
 * @module
 */

import type { z } from "zod";
import type { publishSchema } from "./schemas.ts";

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

/** Only `body` (any JSON value) and maybe `id`. */
function plainMessage(m: Record<string, unknown>): boolean {
  let body = false;
  for (const key in m) {
    if (key === "body") body = m.body !== undefined;
    else if (key !== "id") return false;
    else {
      const id = m.id;
      if (typeof id !== "string" || id.length < 1 || id.length > 256) return false;
    }
  }
  return body;
}
