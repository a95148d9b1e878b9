/**
 * A single publish's body read from its bytes without `JSON.parse`, when it is the compact text
 * a client's `JSON.stringify({ id, body })` writes for a string body: `{"id":"…","body":"…"}`,
 * `{"body":"…","id":"…"}` or `{"body":"…"}`, no whitespace, every character of both strings
 * printable ASCII other than `"` and `\` (nothing escaped).
 *
 * Why: one message per HTTP request is the peers' `B` workload. There the leader decoded the
 * request's UTF-8 and parsed it (~2.5 µs per request in place, caches cold), then wrote the
 * body's JSON text again (`JSON.stringify` of the body, and its UTF-8 into a buffer:
 * `toMessageInput`), although that text is in the request as it is.
 *
 * Why it reads the same: such bytes are one JSON text, whose value is an object with exactly
 * those keys in that order and those strings as they are written (no escape, nothing outside
 * ASCII: each byte is its character). `JSON.parse` gives that very value, so the request is
 * judged as before (its validation, problems, idempotency fingerprint take the same value); any
 * other text (a space, an escape, another key, a number body, a repeated key) is parsed as
 * before. And the body's JSON text, `"` + the string + `"`, is those bytes of the request, which
 * `JSON.stringify` of the string writes too (it escapes only `"`, `\` and controls, none here).
 * A property test holds it to `JSON.parse`.
 *
 * @module
 */

/** The value `JSON.parse` gives, and the body's JSON text: a view of the request's bytes. */
export interface CompactPublish {
  readonly json: { readonly id?: string; readonly body: string };
  readonly bodyText: Uint8Array;
}

/** Longest request read here: longer ones are parsed natively (a JS loop is slower per byte). */
export const COMPACT_MAX_BYTES = 4096;

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const BACKSLASH = 0x5c;

const decoder = new TextDecoder();

/** `bytes` read as the module doc says, or undefined: they are not that text. */
export function compactPublish(bytes: Uint8Array): CompactPublish | undefined {
  const n = bytes.length;
  if (n > COMPACT_MAX_BYTES || n < 11 || bytes[0] !== OPEN || bytes[n - 1] !== CLOSE) {
    return undefined;
  }
  // The first pair: `"id":"…"` or `"body":"…"`, each at most once.
  const firstEnd = pair(bytes, 1);
  if (firstEnd < 0) return undefined;
  const firstIsId = pairIsId;
  let idAt = -1, idEnd = -1, bodyAt = -1, bodyEnd = -1;
  if (firstIsId) {
    idAt = pairAt;
    idEnd = firstEnd;
  } else {
    bodyAt = pairAt;
    bodyEnd = firstEnd;
  }
  let next = firstEnd + 1;
  if (bytes[next] === COMMA) {
    const secondEnd = pair(bytes, next + 1);
    if (secondEnd < 0 || pairIsId === firstIsId) return undefined;
    if (pairIsId) {
      idAt = pairAt;
      idEnd = secondEnd;
    } else {
      bodyAt = pairAt;
      bodyEnd = secondEnd;
    }
    next = secondEnd + 1;
  }
  if (bodyAt < 0 || next !== n - 1) return undefined;
  // All ASCII: one decode, and the strings are slices of it.
  const text = decoder.decode(bytes);
  const body = text.slice(bodyAt, bodyEnd);
  const json = idAt < 0
    ? { body }
    : firstIsId
    ? { id: text.slice(idAt, idEnd), body }
    : { body, id: text.slice(idAt, idEnd) };
  // `"` + the string + `"`: the body's JSON text.
  return { json, bodyText: bytes.subarray(bodyAt - 1, bodyEnd + 1) };
}

/** Bytes of `"id":"` and `"body":"` after their opening quote. */
const ID_KEY = [0x69, 0x64, QUOTE, COLON, QUOTE];
const BODY_KEY = [0x62, 0x6f, 0x64, 0x79, QUOTE, COLON, QUOTE];

/**
 * What `pair` read last: whether its key is `id` (else `body`), and where its value's characters
 * start. Set by each call (module state, not an object per pair: single-threaded, read at once).
 */
let pairIsId = false;
let pairAt = 0;

/**
 * Reads the pair at `from` (its opening quote): where its string value ends (the closing quote),
 * its key and start in `pairIsId` / `pairAt`, when the key is `id` or `body` and the value is a
 * string of plain characters; else -1.
 */
function pair(bytes: Uint8Array, from: number): number {
  if (bytes[from] !== QUOTE) return -1;
  const isId = bytes[from + 1] === 0x69;
  const literal = isId ? ID_KEY : BODY_KEY;
  for (let k = 0; k < literal.length; k++) {
    if (bytes[from + 1 + k] !== literal[k]) return -1;
  }
  const at = from + 1 + literal.length;
  // Bounded by the request's length: every step reads one byte further.
  for (let i = at; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === QUOTE) {
      pairIsId = isId;
      pairAt = at;
      return i;
    }
    if (c < 0x20 || c > 0x7e || c === BACKSLASH) return -1;
  }
  return -1;
}
