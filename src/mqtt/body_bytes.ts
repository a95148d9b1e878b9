/**
 * A PUBLISH's body as the UTF-8 bytes of its JSON text, made from the payload's own bytes where
 * that text is plain to see, so the API stores them as they are (`JSON_BODY_BYTES`) instead of
 * `JSON.stringify` of the body, a join and an encode back to bytes (~15% of a leader's
 * allocations under QoS 1, docs/mqtt.md). Each body is a view of a buffer shared by many: the
 * payload is a view of the connection's read and is copied (the broker copies a body again into
 * its own slabs when it stores it, so a message never keeps a chunk alive longer than its
 * proposal).
 *
 * @module
 */

/** Bytes of a shared buffer bodies are written into. */
const CHUNK = 64 * 1024;
/** A body longer than this gets a buffer of its own. */
const IN_CHUNK_MAX = 4 * 1024;
let chunk = new Uint8Array(CHUNK);
let used = 0;

/**
 * `encode(JSON.stringify(body))` for the body `encodePayload(payload)` made, when `kind` says how
 * without making the text: `json` (canonical: the payload is the text), `text` without a byte JSON
 * escapes (`"`, `\`, a control character; valid UTF-8 decodes to no lone surrogate, the only
 * other thing `JSON.stringify` escapes): the payload in quotes. Else undefined (`base64`, or text
 * with an escape: the API makes the text).
 */
export function bodyJsonBytes(payload: Uint8Array, kind: string): Uint8Array | undefined {
  if (kind === "json") return copy(payload, 0);
  if (kind !== "text" || needsEscape(payload)) return undefined;
  const out = copy(payload, 1);
  out[0] = 0x22;
  out[out.length - 1] = 0x22;
  return out;
}

/** `payload` copied into a shared buffer, with `pad` bytes free before and after it. */
function copy(payload: Uint8Array, pad: number): Uint8Array {
  const n = payload.length + 2 * pad;
  if (n > IN_CHUNK_MAX) {
    const own = new Uint8Array(n);
    own.set(payload, pad);
    return own;
  }
  if (used + n > CHUNK) {
    chunk = new Uint8Array(CHUNK);
    used = 0;
  }
  const at = used;
  chunk.set(payload, at + pad);
  used = at + n;
  return chunk.subarray(at, at + n);
}

/** Whether a byte of `payload` is one JSON escapes in a string: `"`, `\` or below 0x20. */
function needsEscape(payload: Uint8Array): boolean {
  for (let i = 0; i < payload.length; i++) {
    const c = payload[i];
    if (c < 0x20 || c === 0x22 || c === 0x5c) return true;
  }
  return false;
}
