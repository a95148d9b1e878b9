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
 * Whether msgpackr or `ownEntry` would read an object with the own key `key` another way:
 * msgpackr reads `value.constructor` and `value.toJSON` of every object (an own key of that name
 * changes its path) and `hasOwnProperty` in its key loop; `__proto__` does not read back as it
 * was (`own_entry.ts`). By length first: most keys are none of these lengths.
 */
function oddKey(key: string): boolean {
  switch (key.length) {
    case 6:
      return key === "toJSON";
    case 9:
      return key === "__proto__";
    case 11:
      return key === "constructor";
    case 14:
      return key === "hasOwnProperty";
    default:
      return false;
  }
}

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

/** `write`'s answer for a value that is not all plain. */
const NOT_PLAIN = -1;
/** `write`'s answer when the buffer ran out: written again into a larger one. */
const NO_ROOM = -2;

/**
 * msgpackr's bytes of `value` (see the module doc), or undefined when it is not all plain. With
 * `headroom`, in a buffer of its own with that many free bytes in front (`envelope.ts`'s
 * `packOwn`); else a view of a shared buffer, valid until the buffer is dropped (never written
 * again: each view has bytes of its own). One walk that checks as it writes, at the shared
 * buffer's free end.
 */
export function packPlain(value: unknown, headroom?: number): Uint8Array | undefined {
  let end = write(chunk, used, value, 0);
  // Bounded: each retry doubles the room, and a value's bytes are finite.
  for (let room = CHUNK; end === NO_ROOM; room *= 2) {
    chunk = new Uint8Array(room);
    plainBuffers.add(chunk.buffer);
    used = 0;
    end = write(chunk, 0, value, 0);
  }
  if (end === NOT_PLAIN) return undefined;
  if (headroom !== undefined) {
    // Copied out of the shared buffer, whose bytes are written over by the next value.
    const own = new Uint8Array(headroom + end - used);
    own.set(chunk.subarray(used, end), headroom);
    plainBuffers.add(own.buffer);
    return own.subarray(headroom);
  }
  const out = chunk.subarray(used, end);
  used = end;
  return out;
}

/**
 * Writes `value` at `at` as msgpackr would; returns where it ends, `NOT_PLAIN` when it is not all
 * plain, or `NO_ROOM` when `out` ends first.
 */
function write(out: Uint8Array, at: number, value: unknown, depth: number): number {
  switch (typeof value) {
    case "string":
      return writeStr(out, at, value);
    case "number":
      if (value >>> 0 !== value || Object.is(value, -0)) return NOT_PLAIN;
      return at + 5 > out.length ? NO_ROOM : writeUint(out, at, value);
    case "boolean":
      if (at >= out.length) return NO_ROOM;
      out[at] = value ? 0xc3 : 0xc2;
      return at + 1;
    case "object": {
      if (value === null) {
        if (at >= out.length) return NO_ROOM;
        out[at] = 0xc0;
        return at + 1;
      }
      if (depth >= DEPTH_MAX) return NOT_PLAIN;
      const proto = Object.getPrototypeOf(value);
      if (proto === Object.prototype) {
        return writeMap(out, at, value as Readonly<Record<string, unknown>>, depth);
      }
      if (proto === Uint8Array.prototype) return writeBin(out, at, value as Uint8Array);
      if (proto === Array.prototype) return writeArray(out, at, value as unknown[], depth);
      return NOT_PLAIN;
    }
    default:
      return NOT_PLAIN;
  }
}

/** A plain object: msgpackr writes every one as a map 16 (the count set after its keys). */
function writeMap(
  out: Uint8Array,
  at: number,
  record: Readonly<Record<string, unknown>>,
  depth: number,
): number {
  const head = at;
  if (at + 3 > out.length) return NO_ROOM;
  at += 3;
  let keys = 0;
  for (const key in record) {
    if (!Object.hasOwn(record, key) || oddKey(key)) return NOT_PLAIN;
    at = writeStr(out, at, key);
    if (at < 0) return at;
    at = write(out, at, record[key], depth + 1);
    if (at < 0) return at;
    keys++;
  }
  if (keys > 0xffff) return NOT_PLAIN;
  out[head] = 0xde;
  out[head + 1] = keys >> 8;
  out[head + 2] = keys & 0xff;
  return at;
}

function writeArray(out: Uint8Array, at: number, list: readonly unknown[], depth: number): number {
  const n = list.length;
  if (at + 5 > out.length) return NO_ROOM;
  if (n < 16) out[at++] = 0x90 | n;
  else if (n < 0x10000) {
    out[at++] = 0xdc;
    out[at++] = n >> 8;
    out[at++] = n & 0xff;
  } else {
    out[at++] = 0xdd;
    at = writeU32(out, at, n);
  }
  for (let i = 0; i < n; i++) {
    // A hole reads as undefined: not plain.
    at = write(out, at, list[i], depth + 1);
    if (at < 0) return at;
  }
  return at;
}

function writeBin(out: Uint8Array, at: number, bytes: Uint8Array): number {
  const n = bytes.length;
  if (at + 5 + n > out.length) return NO_ROOM;
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
  out.set(bytes, at);
  return at + n;
}

/** An ASCII string with msgpackr's header for its length; `NOT_PLAIN` for any other string. */
function writeStr(out: Uint8Array, at: number, s: string): number {
  const n = s.length;
  if (at + 5 + n > out.length) return NO_ROOM;
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
  let any = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    any |= c;
    out[at++] = c;
  }
  return any > 0x7f ? NOT_PLAIN : at;
}

/** An integer 0 to 2^32 - 1 as msgpackr writes it with `useRecords: false`. */
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
