/**
 * The msgpack the stream's frames need (nil, booleans, numbers, strings, arrays, maps with string
 * keys), written here so that the client keeps no dependency (the node side uses msgpackr; the
 * stream tests speak to it with this). Decoding throws `RangeError` on anything else.
 *
 * @module
 */

const encoder = new TextEncoder();
// `ignoreBOM`: a string led by U+FEFF is data (the default decoder drops it).
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * A growable output buffer. One is kept and reused by `packValue` (encoding is synchronous):
 * a frame costs one allocation, its result, instead of a buffer per frame grown by doubling.
 */
export class Out {
  bytes = new Uint8Array(4096);
  view = new DataView(this.bytes.buffer);
  at = 0;

  room(n: number): void {
    if (this.at + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.at + n) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.bytes.subarray(0, this.at));
    this.bytes = bigger;
    this.view = new DataView(bigger.buffer);
  }

  byte(b: number): void {
    this.room(1);
    this.bytes[this.at++] = b;
  }
}

const scratch = new Out();
/** The scratch buffer is not kept larger than this after a large value (it is shrunk back). */
const SCRATCH_KEEP_BYTES = 1 << 20;

/**
 * Encodes `value` (JSON-like) to msgpack bytes; with `prefix`, that byte comes first (a stream
 * frame's version byte), so the frame is not copied again to put it in front.
 */
export function packValue(value: unknown, prefix?: number): Uint8Array {
  const out = scratch;
  out.at = 0;
  try {
    if (prefix !== undefined) out.byte(prefix);
    write(out, value);
    return out.bytes.slice(0, out.at);
  } finally {
    if (out.bytes.length > SCRATCH_KEEP_BYTES) {
      out.bytes = new Uint8Array(4096);
      out.view = new DataView(out.bytes.buffer);
    }
  }
}

/** Appends `v` (JSON-like) to `out` as msgpack; throws `RangeError` on anything else. */
export function write(out: Out, v: unknown): void {
  if (v === null || v === undefined) out.byte(0xc0);
  else if (v === false) out.byte(0xc2);
  else if (v === true) out.byte(0xc3);
  else if (typeof v === "number") writeNumber(out, v);
  else if (typeof v === "string") writeString(out, v);
  else if (Array.isArray(v)) {
    header(out, v.length, 0x90, 0xdc);
    for (const item of v) write(out, item);
  } else if (typeof v === "object") {
    const map = v as Record<string, unknown>;
    const keys = Object.keys(map);
    let n = 0;
    for (const k of keys) if (map[k] !== undefined) n++;
    header(out, n, 0x80, 0xde);
    for (const k of keys) {
      const x = map[k];
      if (x === undefined) continue;
      writeString(out, k);
      write(out, x);
    }
  } else throw new RangeError(`msgpack: cannot encode a ${typeof v}`);
}

function header(out: Out, n: number, fix: number, wide16: number): void {
  out.room(5);
  if (n < 16) out.bytes[out.at++] = fix | n;
  else if (n < 0x10000) {
    out.bytes[out.at++] = wide16;
    out.view.setUint16(out.at, n);
    out.at += 2;
  } else {
    out.bytes[out.at++] = wide16 + 1;
    out.view.setUint32(out.at, n);
    out.at += 4;
  }
}

function writeNumber(out: Out, n: number): void {
  out.room(9);
  if (Number.isInteger(n) && n >= 0 && n < 0x80) out.bytes[out.at++] = n;
  else if (Number.isInteger(n) && n >= 0 && n <= 0xffffffff) {
    out.bytes[out.at++] = 0xce;
    out.view.setUint32(out.at, n);
    out.at += 4;
  } else {
    out.bytes[out.at++] = 0xcb;
    out.view.setFloat64(out.at, n);
    out.at += 8;
  }
}

/** Strings this short are written a character at a time when they are ASCII (keys, methods). */
const SHORT_STRING = 32;

export function writeString(out: Out, s: string): void {
  const length = s.length;
  if (length < SHORT_STRING && writeAscii(out, s, length)) return;
  // UTF-8 takes at most 3 bytes per UTF-16 unit: room for that, then the header in front.
  const max = length * 3;
  out.room(5 + max);
  const head = max < 32 ? 1 : max < 0x100 ? 2 : max < 0x10000 ? 3 : 5;
  const start = out.at + head;
  const n = encoder.encodeInto(s, out.bytes.subarray(start)).written;
  if (head === 1) out.bytes[out.at] = 0xa0 | n;
  else if (head === 2) {
    out.bytes[out.at] = 0xd9;
    out.bytes[out.at + 1] = n;
  } else if (head === 3) {
    out.bytes[out.at] = 0xda;
    out.view.setUint16(out.at + 1, n);
  } else {
    out.bytes[out.at] = 0xdb;
    out.view.setUint32(out.at + 1, n);
  }
  out.at = start + n;
}

/** Writes a short string when it is all ASCII (a fixstr); false, with nothing written, if not. */
function writeAscii(out: Out, s: string, length: number): boolean {
  out.room(1 + length);
  const bytes = out.bytes;
  const start = out.at + 1;
  for (let k = 0; k < length; k++) {
    const c = s.charCodeAt(k);
    if (c >= 0x80) return false;
    bytes[start + k] = c;
  }
  bytes[out.at] = 0xa0 | length;
  out.at = start + length;
  return true;
}

/** Decodes one msgpack value from `bytes`; throws `RangeError` when it is not one we read. */
export function unpackValue(bytes: Uint8Array): unknown {
  const reader = { bytes, view: new DataView(bytes.buffer, bytes.byteOffset), at: 0 };
  const value = read(reader);
  if (reader.at !== bytes.length) throw new RangeError("msgpack: trailing bytes");
  return value;
}

interface Reader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  at: number;
}

function take(r: Reader, n: number): number {
  const at = r.at;
  if (at + n > r.bytes.length) throw new RangeError("msgpack: truncated");
  r.at += n;
  return at;
}

function read(r: Reader): unknown {
  const b = r.bytes[take(r, 1)];
  if (b < 0x80) return b;
  if (b >= 0xe0) return b - 0x100;
  if ((b & 0xf0) === 0x80) return readMap(r, b & 0x0f);
  if ((b & 0xf0) === 0x90) return readArray(r, b & 0x0f);
  if ((b & 0xe0) === 0xa0) return readString(r, b & 0x1f);
  const v = r.view;
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xca:
      return v.getFloat32(take(r, 4));
    case 0xcb:
      return v.getFloat64(take(r, 8));
    case 0xcc:
      return v.getUint8(take(r, 1));
    case 0xcd:
      return v.getUint16(take(r, 2));
    case 0xce:
      return v.getUint32(take(r, 4));
    case 0xcf:
      return Number(v.getBigUint64(take(r, 8)));
    case 0xd0:
      return v.getInt8(take(r, 1));
    case 0xd1:
      return v.getInt16(take(r, 2));
    case 0xd2:
      return v.getInt32(take(r, 4));
    case 0xd3:
      return Number(v.getBigInt64(take(r, 8)));
    case 0xd9:
      return readString(r, v.getUint8(take(r, 1)));
    case 0xda:
      return readString(r, v.getUint16(take(r, 2)));
    case 0xdb:
      return readString(r, v.getUint32(take(r, 4)));
    case 0xdc:
      return readArray(r, v.getUint16(take(r, 2)));
    case 0xdd:
      return readArray(r, v.getUint32(take(r, 4)));
    case 0xde:
      return readMap(r, v.getUint16(take(r, 2)));
    case 0xdf:
      return readMap(r, v.getUint32(take(r, 4)));
  }
  throw new RangeError(`msgpack: type 0x${b.toString(16)} is not read here`);
}

function readString(r: Reader, n: number): string {
  const at = take(r, n);
  const bytes = r.bytes;
  // One ASCII character: the engine's own one-character strings (a frame's keys).
  if (n === 1 && bytes[at] < 0x80) return String.fromCharCode(bytes[at]);
  if (n <= INTERNED_LENGTH) {
    const s = readShortAscii(bytes, at, n);
    if (s !== undefined) return s;
  }
  return decoder.decode(bytes.subarray(at, at + n));
}

/** Short ASCII strings are taken from `interned` when seen before (keys, `res`, header values). */
const INTERNED_LENGTH = 24;
const INTERNED_SLOTS = 1024;
const interned: (string | undefined)[] = new Array(INTERNED_SLOTS).fill(undefined);

/**
 * The string of the `n` ASCII bytes at `at`, or undefined when they are not all ASCII. A frame's
 * keys and most of its short values repeat in every frame (`t`, `res`, `content-type`,
 * `application/json`): one is found by a hash of its bytes in `interned` and compared, and only a
 * new one is built (a character at a time: each step of which is a new string).
 */
function readShortAscii(bytes: Uint8Array, at: number, n: number): string | undefined {
  let hash = n;
  for (let k = at; k < at + n; k++) {
    const c = bytes[k];
    if (c >= 0x80) return undefined;
    hash = Math.imul(hash, 31) + c | 0;
  }
  const slot = (hash ^ (hash >>> 10)) & (INTERNED_SLOTS - 1);
  const known = interned[slot];
  if (known !== undefined && known.length === n) {
    let same = true;
    for (let k = 0; k < n; k++) {
      if (known.charCodeAt(k) !== bytes[at + k]) {
        same = false;
        break;
      }
    }
    if (same) return known;
  }
  let s = "";
  for (let k = at; k < at + n; k++) s += String.fromCharCode(bytes[k]);
  interned[slot] = s;
  return s;
}

function readArray(r: Reader, n: number): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(read(r));
  return out;
}

function readMap(r: Reader, n: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const key = read(r);
    if (typeof key !== "string") throw new RangeError("msgpack: map keys must be strings");
    // An own property, as JSON.parse makes it: `__proto__` must never set the prototype.
    if (key === "__proto__") {
      Object.defineProperty(out, key, {
        value: read(r),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else out[key] = read(r);
  }
  return out;
}
