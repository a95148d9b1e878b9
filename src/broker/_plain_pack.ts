/**
 * msgpack of a proposal written by hand, byte for byte what msgpackr's `pack` writes for it (the
 * `Packr` of `envelope.ts`: `useRecords: false`, `moreTypes: false`), for the values proposals
 * are made of: plain objects, arrays, ASCII strings, integers 0 to 2^32 - 1, booleans, null and
 * `Uint8Array` bodies. Anything else (another type, a non-ASCII string, a negative or fractional
 * number, `-0`, a key msgpackr or `ownEntry` would read another way) makes it answer undefined,
 * and the proposal is packed by msgpackr as before.
 *
 * Why: msgpackr packs a `Uint8Array` through its extension table (an `instanceof` per built-in
 * extension, a callback and a `{target, position}` object per body) and every key as a string it
 * measures again; a stream publish with an id and a session (`{cmd: {op, queue, message: {body,
 * id}}, session: {id, seq, lowest}}`) cost the leader 2-4 µs of CPU to pack, ~0.3 µs here.
 *
 * A value this packs is also one `ownEntry` keeps as it is (`keepsItsValue`): ASCII strings are
 * well-formed, no `-0`, no `__proto__`, no `undefined`, nothing deeper than `DEPTH_MAX`. Its
 * bytes are known (`packedPlain`) so the leader does not walk it a second time.
 * `plain_pack_property_test.ts` compares the bytes with msgpackr's for any JSON-like value.
 *
 * @module
 */

/** Deeper than this, msgpackr packs it (the same bound as `own_entry.ts`'s walk). */
const DEPTH_MAX = 32;

/**
 * Keys left to msgpackr: it reads `value.constructor` and `value.toJSON` of every object (an own
 * key of that name changes its path), and `hasOwnProperty` in its key loop; `__proto__` does not
 * read back as it was (`own_entry.ts`).
 */
const ODD_KEYS = new Set(["constructor", "toJSON", "hasOwnProperty", "__proto__"]);

/** Bytes of shared buffer handed out as views, as msgpackr hands out views of its own. */
const CHUNK = 64 * 1024;
let chunk = new Uint8Array(CHUNK);
let used = 0;

/**
 * The buffers `packPlain` writes into (weakly held; one per 64 KiB of proposals, or one per
 * proposal with headroom): a byte view of one of them is `packPlain`'s bytes of some value.
 */
const plainBuffers = new WeakSet<ArrayBufferLike>([chunk.buffer]);

/**
 * Whether `bytes` were packed by `packPlain`: for the bytes of a proposal (`proposalBytes`), that
 * proposal then keeps its value (`keepsItsValue`: the module doc). A lookup of the buffer, not
 * of the view: a weak table entry per proposal cost more (~1 µs) than the walk it saves.
 */
export function packedPlain(bytes: Uint8Array): boolean {
  return plainBuffers.has(bytes.buffer);
}

/**
 * msgpackr's bytes of `value` (see the module doc), or undefined when it is not all plain. With
 * `headroom`, in a buffer of its own with that many free bytes in front (`envelope.ts`'s
 * `packOwn`); else a view of a shared buffer, valid until the buffer is dropped (never written
 * again: each view has bytes of its own).
 */
export function packPlain(value: unknown, headroom?: number): Uint8Array | undefined {
  const size = sizeOf(value, 0);
  if (size < 0) return undefined;
  let out: Uint8Array;
  if (headroom !== undefined) {
    out = new Uint8Array(headroom + size).subarray(headroom);
    plainBuffers.add(out.buffer);
  } else {
    if (used + size > chunk.length) {
      chunk = new Uint8Array(Math.max(CHUNK, size));
      plainBuffers.add(chunk.buffer);
      used = 0;
    }
    out = chunk.subarray(used, used + size);
    used += size;
  }
  const end = write(out, 0, value);
  if (end !== size) throw new Error(`packPlain wrote ${end} of ${size} bytes`);
  return out;
}

/** The packed size of `value`, or -1 when it is not all plain. */
function sizeOf(value: unknown, depth: number): number {
  switch (typeof value) {
    case "string":
      return isAscii(value) ? strHead(value.length) + value.length : -1;
    case "number":
      return value >>> 0 === value && !Object.is(value, -0) ? uintSize(value) : -1;
    case "boolean":
      return 1;
    case "object": {
      if (value === null) return 1;
      if (depth >= DEPTH_MAX) return -1;
      const proto = Object.getPrototypeOf(value);
      if (proto === Uint8Array.prototype) {
        const n = (value as Uint8Array).length;
        return (n < 0x100 ? 2 : n < 0x10000 ? 3 : 5) + n;
      }
      if (proto === Array.prototype) {
        const list = value as readonly unknown[];
        const n = list.length;
        let size = n < 16 ? 1 : n < 0x10000 ? 3 : 5;
        for (let i = 0; i < n; i++) {
          const s = sizeOf(list[i], depth + 1);
          if (s < 0) return -1;
          size += s;
        }
        return size;
      }
      if (proto !== Object.prototype) return -1;
      const record = value as Readonly<Record<string, unknown>>;
      let size = 3;
      let keys = 0;
      for (const key in record) {
        if (!Object.hasOwn(record, key) || ODD_KEYS.has(key) || !isAscii(key)) return -1;
        const s = sizeOf(record[key], depth + 1);
        if (s < 0) return -1;
        size += strHead(key.length) + key.length + s;
        keys++;
      }
      return keys > 0xffff ? -1 : size;
    }
    default:
      return -1;
  }
}

/** Writes `value` (checked by `sizeOf`) at `at`; returns where it ends. */
function write(out: Uint8Array, at: number, value: unknown): number {
  switch (typeof value) {
    case "string":
      return writeStr(out, at, value);
    case "number":
      return writeUint(out, at, value);
    case "boolean":
      out[at] = value ? 0xc3 : 0xc2;
      return at + 1;
    default: {
      if (value === null) {
        out[at] = 0xc0;
        return at + 1;
      }
      if (value instanceof Uint8Array) {
        const n = value.length;
        if (n < 0x100) {
          out[at++] = 0xc4;
          out[at++] = n;
        } else if (n < 0x10000) {
          out[at++] = 0xc5;
          out[at++] = n >> 8;
          out[at++] = n & 0xff;
        } else {
          out[at++] = 0xc6;
          at = writeU32(out, at, n);
        }
        out.set(value, at);
        return at + n;
      }
      if (Array.isArray(value)) {
        const n = value.length;
        if (n < 16) out[at++] = 0x90 | n;
        else if (n < 0x10000) {
          out[at++] = 0xdc;
          out[at++] = n >> 8;
          out[at++] = n & 0xff;
        } else {
          out[at++] = 0xdd;
          at = writeU32(out, at, n);
        }
        for (let i = 0; i < n; i++) at = write(out, at, value[i]);
        return at;
      }
      // msgpackr writes every plain object as a map 16 (the count set after its keys).
      const record = value as Readonly<Record<string, unknown>>;
      const head = at;
      at += 3;
      let keys = 0;
      for (const key in record) {
        at = writeStr(out, at, key);
        at = write(out, at, record[key]);
        keys++;
      }
      out[head] = 0xde;
      out[head + 1] = keys >> 8;
      out[head + 2] = keys & 0xff;
      return at;
    }
  }
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** The header of an ASCII string of `n` characters (bytes), as msgpackr sizes it. */
function strHead(n: number): number {
  return n < 0x20 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

function writeStr(out: Uint8Array, at: number, s: string): number {
  const n = s.length;
  if (n < 0x20) out[at++] = 0xa0 | n;
  else if (n < 0x100) {
    out[at++] = 0xd9;
    out[at++] = n;
  } else if (n < 0x10000) {
    out[at++] = 0xda;
    out[at++] = n >> 8;
    out[at++] = n & 0xff;
  } else {
    out[at++] = 0xdb;
    at = writeU32(out, at, n);
  }
  for (let i = 0; i < n; i++) out[at++] = s.charCodeAt(i);
  return at;
}

/** An integer 0 to 2^32 - 1 as msgpackr writes it with `useRecords: false`. */
function uintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : 5;
}

function writeUint(out: Uint8Array, at: number, v: number): number {
  if (v < 0x80) out[at++] = v;
  else if (v < 0x100) {
    out[at++] = 0xcc;
    out[at++] = v;
  } else if (v < 0x10000) {
    out[at++] = 0xcd;
    out[at++] = v >> 8;
    out[at++] = v & 0xff;
  } else {
    out[at++] = 0xce;
    at = writeU32(out, at, v);
  }
  return at;
}

function writeU32(out: Uint8Array, at: number, v: number): number {
  out[at] = v >>> 24;
  out[at + 1] = (v >>> 16) & 0xff;
  out[at + 2] = (v >>> 8) & 0xff;
  out[at + 3] = v & 0xff;
  return at + 4;
}
