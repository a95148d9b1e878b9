/**
 * The bodies of a batch publish cut from the request's own bytes, where they are already the
 * bytes `toMessageInputs` would make: a body that is a string is stored as its JSON text, and in
 * a compact request of plain strings that text is in the request as it is. `toMessageInputs`
 * spent ~0.3 µs per message of the peers' 100-message publish on `JSON.stringify` of each body
 * and one UTF-8 encode of them all (and ~26 KB of strings and a buffer per request); this walks
 * the parsed messages once, adding up lengths.
 *
 * Why the lengths prove it. The request parsed (`JSON.parse`) to `{ messages: [...] }` whose
 * messages have only `body` and `id`, both strings. Write that value as JSON with its keys in
 * their order, no whitespace and every character of every string as it is: that text is `L`
 * characters long. Any JSON text that parses to this value is at least `L` characters long
 * (whitespace, an escape, a repeated key only add; and an object's keys come in the order the
 * text first names them), and exactly `L` only when it is that text. Its UTF-8 takes at least one
 * byte per character (two bytes for two characters at most, for a pair of surrogates), and
 * exactly one each only when every character is ASCII. So a request of exactly `L` bytes is that
 * text, all ASCII: each body's JSON text, `"` + the string + `"`, is at a known offset, and is
 * its `JSON.stringify` (a string that would need an escape would have one in the request).
 *
 * @module
 */

import type { MessageInput } from "../broker/mod.ts";
import { type MessageRequest, withBody } from "./render.ts";

/** `{"messages":[` */
const HEAD = 13;
/** `]}` */
const TAIL = 2;

/**
 * The messages of a batch as `toMessageInputs(json.messages)` makes them, each body a view of
 * `body.bytes`, when `json` is what `JSON.parse` made of those bytes (unchanged since), and they
 * are the compact text of the module doc; else undefined. Anything but `{ messages: [...] }` of 1
 * or more messages with a string `body` and maybe a string `id` is undefined too, without asking
 * for the bytes (a body held as text, a stream's, encodes them when asked).
 */
export function bodiesInPlace(
  body: { readonly bytes: Uint8Array },
  json: unknown,
): MessageInput[] | undefined {
  if (typeof json !== "object" || json === null) return undefined;
  let fields = 0;
  for (const key in json) if (key !== "messages" || ++fields > 1) return undefined;
  const messages = (json as { readonly messages?: unknown }).messages;
  if (!Array.isArray(messages) || messages.length === 0) return undefined;
  const spans: number[] = [];
  let at = HEAD;
  for (let k = 0; k < messages.length; k++) {
    const m = messages[k] as Readonly<Record<string, unknown>>;
    // `{`, or `,{` after the first.
    at += k === 0 ? 1 : 2;
    let keys = 0, bodyAt = -1, bodyEnd = -1;
    for (const key in m) {
      const value = m[key];
      if (typeof value !== "string" || (key !== "body" && key !== "id")) return undefined;
      // `,` after the first; `"key":`; `"value"`.
      at += (keys === 0 ? 0 : 1) + key.length + 3;
      if (key === "body") {
        bodyAt = at;
        bodyEnd = at + value.length + 2;
      }
      at += value.length + 2;
      keys++;
    }
    if (bodyAt < 0) return undefined;
    spans.push(bodyAt, bodyEnd);
    at++;
  }
  const bytes = body.bytes;
  if (at + TAIL !== bytes.length) return undefined;
  const out: MessageInput[] = [];
  for (let k = 0; k < messages.length; k++) {
    const body = bytes.subarray(spans[2 * k], spans[2 * k + 1]);
    const id = (messages[k] as { readonly id?: string }).id;
    // Keys in the order `toMessageInputs` sets them: the entry packs them in this order.
    out.push(id === undefined ? { body } : { body, id });
  }
  return out;
}

/**
 * Where an in-process caller (the MQTT gateway) puts a message's body as the UTF-8 bytes of its
 * JSON text, on the message object of a body handed over as its value (`BodyValue`). A symbol:
 * `JSON.parse` never makes one (no request from the network has it), `JSON.stringify` and `for
 * ... in` skip it (the text a follower forwards, and the validation, see the message as before),
 * and a copy of the message (zod's output) drops it, so it is read only off the very objects the
 * caller built. The caller vouches that the bytes are `JSON.stringify(body)` encoded
 * (src/server/mqtt_body_bytes_test.ts, src/mqtt/body_bytes_test.ts): where the bytes are there,
 * the API takes them instead of stringifying, joining and encoding the bodies again.
 */
export const JSON_BODY_BYTES: unique symbol = Symbol("quorumq.jsonBodyBytes");

/** A message that may carry its body's JSON bytes (`JSON_BODY_BYTES`). */
interface WithBodyBytes {
  readonly [JSON_BODY_BYTES]?: Uint8Array;
}

/**
 * The messages of a batch as `toMessageInputs(messages)` makes them when each of them carries its
 * body's JSON bytes (`JSON_BODY_BYTES`), else undefined. `messages` must be the validated
 * request's own (the parsed value itself, not a copy): the same field rules (`withBody`) then
 * make the same input, with the bytes the caller had.
 */
export function bodiesGiven(messages: readonly MessageRequest[]): MessageInput[] | undefined {
  const out: MessageInput[] = [];
  for (let k = 0; k < messages.length; k++) {
    const m = messages[k];
    const bytes = (m as WithBodyBytes)[JSON_BODY_BYTES];
    if (bytes === undefined) return undefined;
    out.push(withBody(m, bytes));
  }
  return out;
}
