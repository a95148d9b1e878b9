/**
 * The msgpack the stream's frames need (nil, booleans, numbers, strings, arrays, maps with string
 * keys), written here so that the client keeps no dependency (the node side uses msgpackr; the
 * stream tests speak to it with this). Decoding throws `RangeError` on anything else.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes `value` (JSON-like) to msgpack bytes. */
export function packValue(value: unknown): Uint8Array {
  const out: number[] = [];
  write(out, value);
  return new Uint8Array(out);
}

function write(out: number[], v: unknown): void {
  if (v === null || v === undefined) out.push(0xc0);
  else if (v === false) out.push(0xc2);
  else if (v === true) out.push(0xc3);
  else if (typeof v === "number") writeNumber(out, v);
  else if (typeof v === "string") writeString(out, v);
  else if (Array.isArray(v)) {
    header(out, v.length, 0x90, 0xdc);
    for (const item of v) write(out, item);
  } else if (typeof v === "object") {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    header(out, entries.length, 0x80, 0xde);
    for (const [k, x] of entries) {
      writeString(out, k);
      write(out, x);
    }
  } else throw new RangeError(`msgpack: cannot encode a ${typeof v}`);
}

function header(out: number[], n: number, fix: number, wide16: number): void {
  if (n < 16) out.push(fix | n);
  else if (n < 0x10000) out.push(wide16, n >> 8, n & 0xff);
  else out.push(wide16 + 1, ...be32(n));
}

function be32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

function writeNumber(out: number[], n: number): void {
  if (Number.isInteger(n) && n >= 0 && n < 0x80) out.push(n);
  else if (Number.isInteger(n) && n >= 0 && n <= 0xffffffff) out.push(0xce, ...be32(n));
  else {
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, n);
    out.push(0xcb, ...new Uint8Array(view.buffer));
  }
}

function writeString(out: number[], s: string): void {
  const bytes = encoder.encode(s);
  const n = bytes.length;
  if (n < 32) out.push(0xa0 | n);
  else if (n < 0x100) out.push(0xd9, n);
  else if (n < 0x10000) out.push(0xda, n >> 8, n & 0xff);
  else out.push(0xdb, ...be32(n));
  for (let i = 0; i < n; i++) out.push(bytes[i]);
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
  return decoder.decode(r.bytes.subarray(at, at + n));
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
    Object.defineProperty(out, key, {
      value: read(r),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
