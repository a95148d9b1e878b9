/**
 * A hand reader for the msgpack of the stream's incoming messages (`stream_frames.ts`): the
 * frames clients send (maps of short ASCII keys, integers, strings, nested maps and arrays of
 * those), read to exactly what msgpackr (`mapsAsObjects`, no records) makes of them, with less
 * work and garbage per frame: keys and repeated short strings (`t`, `req`, `POST`, a queue's
 * path, header names) come from a table instead of being built again, and nothing is read twice.
 *
 * Anything else (another type, a non-ASCII short string, a `__proto__` key, truncated or
 * trailing bytes) is not read here: `readStreamMessage` answers `NOT_READ`, and the caller reads
 * the message with msgpackr, which gives the same value or the same error as it always did.
 * `stream_read_test.ts` checks both against msgpackr.
 *
 * @module
 */

/** The message is not one this reader takes: read it with msgpackr. */
export const NOT_READ: unique symbol = Symbol("not read");

/**
 * `ignoreBOM`: a string led by U+FEFF is the client's data; the default decoder drops it (as
 * msgpackr's own JS reader does past 64 bytes, unlike its native extractor).
 */
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Nesting deeper than this is left to msgpackr (frames are two levels deep). */
const DEPTH_MAX = 16;

/**
 * Strings longer than this are decoded by `TextDecoder` (as msgpackr does past 64 bytes); ASCII
 * ones up to it are looked up in `interned` first.
 */
const SHORT_MAX = 64;

/** The message being read, and where (module state: one message is read at a time). */
let src: Uint8Array = new Uint8Array(0);
let pos = 0;

/** Thrown inside the reader for anything it does not take; caught by `readStreamMessage`. */
const DECLINE = new Error("not read here");

/**
 * The msgpack value of `bytes` from `start` to their end, as msgpackr reads it, or `NOT_READ`.
 * Never throws.
 */
export function readStreamMessage(bytes: Uint8Array, start: number): unknown {
  src = bytes;
  pos = start;
  try {
    const value = read(0);
    return pos === bytes.length ? value : NOT_READ;
  } catch (error) {
    if (error === DECLINE) return NOT_READ;
    throw error;
  } finally {
    src = EMPTY;
  }
}

const EMPTY: Uint8Array = new Uint8Array(0);

/** Where the next `n` bytes start (and moves past them); declines when there are fewer. */
function need(n: number): number {
  const at = pos;
  if (at + n > src.length) throw DECLINE;
  pos = at + n;
  return at;
}

function u16(): number {
  const at = need(2);
  return (src[at] << 8) | src[at + 1];
}

function u32(): number {
  const at = need(4);
  return ((src[at] << 24) | (src[at + 1] << 16) | (src[at + 2] << 8) | src[at + 3]) >>> 0;
}

function read(depth: number): unknown {
  const b = src[need(1)];
  // A positive fixint. msgpackr reads 0x40..0x7f as a record once one is defined, which takes
  // an extension type earlier in the same message (it forgets them between messages without
  // `structures`): a message with one is not read here at all.
  if (b < 0x80) return b;
  if (b >= 0xe0) return b - 0x100; // negative fixint
  if ((b & 0xf0) === 0x80) return readMap(b & 0x0f, depth);
  if ((b & 0xf0) === 0x90) return readArray(b & 0x0f, depth);
  if ((b & 0xe0) === 0xa0) return readString(b & 0x1f);
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xcb: {
      const at = need(8);
      return new DataView(src.buffer, src.byteOffset + at, 8).getFloat64(0);
    }
    case 0xcc:
      return src[need(1)];
    case 0xcd:
      return u16();
    case 0xce:
      return u32();
    case 0xd0: {
      const v = src[need(1)];
      return v >= 0x80 ? v - 0x100 : v;
    }
    case 0xd1: {
      const v = u16();
      return v >= 0x8000 ? v - 0x10000 : v;
    }
    case 0xd2:
      return u32() | 0;
    case 0xd9:
      return readString(src[need(1)]);
    case 0xda:
      return readString(u16());
    case 0xdb:
      return readString(u32());
    case 0xdc:
      return readArray(u16(), depth);
    case 0xde:
      return readMap(u16(), depth);
  }
  throw DECLINE;
}

function readArray(n: number, depth: number): unknown[] {
  if (depth >= DEPTH_MAX || n > src.length - pos) throw DECLINE;
  const out = new Array(n);
  for (let k = 0; k < n; k++) out[k] = read(depth + 1);
  return out;
}

function readMap(n: number, depth: number): Record<string, unknown> {
  if (depth >= DEPTH_MAX) throw DECLINE;
  const out: Record<string, unknown> = {};
  for (let k = 0; k < n; k++) {
    const kb = src[need(1)];
    // Keys: short strings only (msgpackr renames `__proto__`; other keys are left to it).
    let key: string;
    if (kb === 0xa1) {
      // A one-letter key (every frame's own): the engine's own one-character strings.
      const c = src[need(1)];
      if (c >= 0x80) throw DECLINE;
      key = String.fromCharCode(c);
    } else if ((kb & 0xe0) === 0xa0) key = readString(kb & 0x1f);
    else if (kb === 0xd9) key = readString(src[need(1)]);
    else throw DECLINE;
    if (key === "__proto__") throw DECLINE;
    out[key] = read(depth + 1);
  }
  return out;
}

function readString(n: number): string {
  const at = need(n);
  if (n > SHORT_MAX) return decoder.decode(src.subarray(at, at + n));
  const s = shortAscii(src, at, n);
  // A short string that is not ASCII: msgpackr decodes it in JavaScript, its own way.
  if (s === undefined) throw DECLINE;
  return s;
}

/** Short ASCII strings seen lately, by a hash of their bytes (`shortAscii`). */
const SLOTS = 2048;
const interned: (string | undefined)[] = new Array(SLOTS).fill(undefined);

/**
 * The string of `n` ASCII bytes at `at` (undefined when one is not ASCII): the one in
 * `interned` when it is the same, else built and kept there.
 */
function shortAscii(bytes: Uint8Array, at: number, n: number): string | undefined {
  let hash = n;
  for (let k = at; k < at + n; k++) {
    const c = bytes[k];
    if (c >= 0x80) return undefined;
    hash = (Math.imul(hash, 31) + c) | 0;
  }
  const slot = (hash ^ (hash >>> 11)) & (SLOTS - 1);
  const known = interned[slot];
  if (known !== undefined && known.length === n) {
    let k = 0;
    while (k < n && known.charCodeAt(k) === bytes[at + k]) k++;
    if (k === n) return known;
  }
  const s = n === 0 ? "" : decoder.decode(bytes.subarray(at, at + n));
  interned[slot] = s;
  return s;
}
