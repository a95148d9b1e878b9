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
 * `encode(JSON.stringify(body))` for the `body` and `kind` `encodePayload(payload)` made, when
 * `kind` says how without making the text: `json` (canonical: the payload is the text), `text`
 * without a byte JSON escapes (`"`, `\`, a control character; in UTF-8 no byte of a non-ASCII
 * character is below 0x80, and valid UTF-8 decodes to no lone surrogate, the only other thing
 * `JSON.stringify` escapes): the payload in quotes. Else undefined (`base64`, or text with an
 * escape: the API makes the text).
 */
export function bodyJsonBytes(payload: Uint8Array, kind: string): Uint8Array | undefined {
  if (kind === "json") return copy(payload, 0);
  if (kind !== "text") return undefined;
  const out = copy(payload, 1);
  if (hasEscaped(out, 1, out.length - 1)) return undefined;
  out[0] = 0x22;
  out[out.length - 1] = 0x22;
  return out;
}

/**
 * `payload` copied into a shared buffer with `pad` bytes free before and after it, the payload
 * at an offset that is a multiple of 4 (`hasEscaped` reads it 4 bytes at a time).
 */
function copy(payload: Uint8Array, pad: number): Uint8Array {
  const n = payload.length + 2 * pad;
  if (n > IN_CHUNK_MAX) {
    const own = new Uint8Array(n + 4);
    own.set(payload, 4);
    return own.subarray(4 - pad, 4 - pad + n);
  }
  let at = ((used + pad + 3) & ~3) - pad;
  if (at + n > CHUNK) {
    chunk = new Uint8Array(CHUNK);
    words = new Int32Array(chunk.buffer);
    at = 4 - pad;
  }
  chunk.set(payload, at + pad);
  used = at + n;
  return chunk.subarray(at, at + n);
}

let words = new Int32Array(chunk.buffer);
/** 0x80808080 as an int32 (the words are read signed: no number beyond 31 bits). */
const HIGH_BITS = 0x80808080 | 0;

/**
 * Whether a byte of `b` in `[from, to)` is `"`, `\` or below 0x20, `from` at a multiple of 4 in
 * its buffer. Four bytes a step (a byte loop took ~0.2 µs per 256-byte payload, a regular
 * expression ~0.3: as much as the API's work this saves): `(w - 0x01010101 * k) & ~w &
 * 0x80808080` is non-zero exactly when a byte of `w` is below `k` (k <= 0x80), and `w ^ c` has a
 * zero byte where `w` has the byte `c`.
 */
export function hasEscaped(b: Uint8Array, from: number, to: number): boolean {
  const base = b.byteOffset + from;
  let i = from;
  if (base % 4 === 0 && b.buffer === chunk.buffer) {
    const w0 = base >> 2;
    const wn = (to - from) >> 2;
    for (let k = 0; k < wn; k++) {
      const w = words[w0 + k];
      const q = w ^ 0x22222222;
      const s = w ^ 0x5c5c5c5c;
      const low = ((w - 0x20202020) | 0) & ~w;
      const quote = ((q - 0x01010101) | 0) & ~q;
      const slash = ((s - 0x01010101) | 0) & ~s;
      if (((low | quote | slash) & HIGH_BITS) !== 0) return true;
    }
    i = from + wn * 4;
  }
  for (; i < to; i++) {
    const c = b[i];
    if (c < 0x20 || c === 0x22 || c === 0x5c) return true;
  }
  return false;
}
