/**
 * A hand reader for the msgpack of the stream's incoming messages (`stream_frames.ts`): the
 * frames clients send (maps of short string keys, integers, floats, strings, nested maps and
 * arrays of those), read to what msgpackr (`mapsAsObjects`, no records) makes of them, with less
 * work and garbage per frame: keys and repeated short strings (`t`, `req`, `POST`, a queue's
 * path, header names) come from a table instead of being built again, and nothing is read twice.
 *
 * It decides what a frame's values are, once, before anything is proposed (docs/stream.md,
 * "Frame values"): a uint64 / int64 that is a safe integer is that number (msgpackr would make it
 * a BigInt, which no JSON holds); a float32 is the number it holds; one beyond 2^53 − 1, an
 * extension (a timestamp, any type) and bin are read as a `RefusedValue`, and the frame holding
 * one is answered 400. `takenValue` applies the same rules to a value another reader made.
 *
 * Anything else (a non-string key, invalid UTF-8 in a short string, a `__proto__` key, truncated
 * or trailing bytes) is not read here: `readStreamMessage` answers `NOT_READ`, and the caller
 * reads the message otherwise, then puts it through `takenValue`. `stream_read_test.ts` checks
 * both against msgpackr.
 *
 * @module
 */

/** The message is not one this reader takes: read it otherwise (the entry reader, msgpackr). */
export const NOT_READ: unique symbol = Symbol("not read");

/** A value a node does not take in a frame, in its place: the frame is refused with `reason`. */
export class RefusedValue {
  constructor(readonly reason: string) {}
}

export const BEYOND_SAFE: RefusedValue = new RefusedValue(
  "a 64-bit integer beyond 2^53 - 1 (or below -(2^53 - 1)) cannot be kept exactly: JSON " +
    "numbers are doubles; send it as a string",
);
export const EXTENSION: RefusedValue = new RefusedValue(
  "a msgpack extension type (a timestamp, or any other) is not a JSON value; send it as a " +
    "string or a number",
);
export const BINARY: RefusedValue = new RefusedValue(
  "msgpack binary data (bin) is not a JSON value; send it as a string",
);
/** Nesting `takenValue` walks (the broker's entry reader reads 64 levels of an entry). */
const TAKEN_DEPTH_MAX = 64;
const TOO_DEEP: RefusedValue = new RefusedValue(
  `a value nested more than ${TAKEN_DEPTH_MAX} levels deep is not taken`,
);

/** Values read as a `RefusedValue` since the last `readStreamMessage` or `takenValue`. */
let refusals = 0;

/** Whether the last `readStreamMessage` or `takenValue` read a `RefusedValue` somewhere. */
export function readRefused(): boolean {
  return refusals > 0;
}

function refuse(why: RefusedValue): RefusedValue {
  refusals++;
  return why;
}

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
  refusals = 0;
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
  // an extension type earlier in the same message: such a message is refused (its extension),
  // or, as msgpackr's records do not follow msgpack's ext layout, left to msgpackr.
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
  return readOther(b);
}

/**
 * The types clients of other libraries write that this node takes its own way (docs/stream.md,
 * "Frame values"): float32 and a safe 64-bit integer as numbers; a 64-bit integer beyond, bin
 * and extensions as a `RefusedValue`. Anything else is declined.
 */
function readOther(b: number): unknown {
  switch (b) {
    case 0xca: {
      const at = need(4);
      return new DataView(src.buffer, src.byteOffset + at, 4).getFloat32(0);
    }
    case 0xcf: {
      // The high word under 2^21: at most 2^53 - 1, exact as hi * 2^32 + lo.
      const hi = u32(), lo = u32();
      return hi <= 0x1fffff ? hi * 0x100000000 + lo : refuse(BEYOND_SAFE);
    }
    case 0xd3: {
      const hi = u32() | 0, lo = u32();
      const v = hi * 0x100000000 + lo; // exact while -2^21 <= hi < 2^21
      return hi >= -0x200000 && hi <= 0x1fffff && v >= -Number.MAX_SAFE_INTEGER
        ? v
        : refuse(BEYOND_SAFE);
    }
    case 0xc4:
      return skip(src[need(1)], BINARY);
    case 0xc5:
      return skip(u16(), BINARY);
    case 0xc6:
      return skip(u32(), BINARY);
    case 0xc7:
      return skip(src[need(1)] + 1, EXTENSION);
    case 0xc8:
      return skip(u16() + 1, EXTENSION);
    case 0xc9:
      return skip(u32() + 1, EXTENSION);
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
      // fixext 1, 2, 4, 8, 16: the type byte and 2^(b - 0xd4) bytes.
      return skip(1 + (1 << (b - 0xd4)), EXTENSION);
  }
  throw DECLINE;
}

/** Steps over `n` bytes of a value not taken, read as `why`. */
function skip(n: number, why: RefusedValue): RefusedValue {
  need(n);
  return refuse(why);
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
  return s !== undefined ? s : shortUtf8(at, n);
}

/** Refuses invalid UTF-8, which msgpackr's reader decodes its own way (left to it). */
const strictDecoder = new TextDecoder("utf-8", { ignoreBOM: true, fatal: true });

/** A short string that is not ASCII: decoded as msgpackr does valid UTF-8; declined if not. */
function shortUtf8(at: number, n: number): string {
  try {
    return strictDecoder.decode(src.subarray(at, at + n));
  } catch {
    throw DECLINE;
  }
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

/**
 * `value` (read by another reader: the entry reader or msgpackr) with the values a frame may not
 * hold as this reader reads them: a BigInt a number when it is a safe integer, else
 * `BEYOND_SAFE`; a `Date` or any other object that is not a plain object or array `EXTENSION`;
 * bytes `BINARY`; deeper than 64 levels `TOO_DEEP`. Objects and arrays are changed in place.
 * `readRefused` then says whether it put a `RefusedValue` anywhere.
 */
export function takenValue(value: unknown): unknown {
  refusals = 0;
  return taken(value, 0);
}

function taken(v: unknown, depth: number): unknown {
  if (typeof v === "bigint") {
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : refuse(BEYOND_SAFE);
  }
  if (typeof v !== "object" || v === null) return v;
  if (v instanceof Uint8Array) return refuse(BINARY);
  const proto = Object.getPrototypeOf(v);
  const isArray = Array.isArray(v);
  if (!isArray && proto !== Object.prototype && proto !== null) return refuse(EXTENSION);
  if (depth >= TAKEN_DEPTH_MAX) return refuse(TOO_DEEP);
  if (isArray) {
    for (let k = 0; k < v.length; k++) v[k] = taken(v[k], depth + 1);
  } else {
    const o = v as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      const t = taken(o[key], depth + 1);
      // Defined, not assigned: an own `__proto__` key stays a key.
      if (t !== o[key]) {
        Object.defineProperty(o, key, {
          value: t,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    }
  }
  return v;
}

/** The reason of the first `RefusedValue` in `value`, if any (one is at most 64 levels deep). */
export function refusedIn(value: unknown, depth = 0): string | undefined {
  if (value instanceof RefusedValue) return value.reason;
  if (typeof value !== "object" || value === null || depth > TAKEN_DEPTH_MAX) return undefined;
  for (const v of Array.isArray(value) ? value : Object.values(value)) {
    const reason = refusedIn(v, depth + 1);
    if (reason !== undefined) return reason;
  }
  return undefined;
}
