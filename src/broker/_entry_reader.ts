/**
 * A msgpack reader for the bytes of broker entries, for the common forms only, giving the very
 * values msgpackr's `unpack` gives (envelope.ts's plain-maps packr): what it cannot read exactly
 * the same way it leaves to msgpackr, which then reads the whole entry as before (or throws as
 * before). Every follower decodes every entry, so this is on each node's path for every message.
 *
 * Why not msgpackr: for a source over ~180 bytes (every batch entry) msgpackr makes every map key
 * a fresh string (its key cache is for small sources) and every short string too, through its
 * native string extractor (a napi call per entry) or its JS reader; a 64-message MQTT entry made
 * ~6 key strings and ~3 value strings per message that V8 then looks up in its string table as
 * property names, and `read`/`readKey`/the extractor were ~450 of the ~1,100 bytes an apply
 * allocated per message. Here a key, and every short ASCII string (names, ops, subjects, header
 * values), comes from a small cache of strings already made: equal strings, so the state is the
 * same; the subjects and header values stored with messages are then shared strings, not one
 * each per message.
 *
 * Read here: nil, booleans, integers up to 32 bits, float64, strings (valid UTF-8), bin, arrays,
 * maps with string keys, and msgpackr's `undefined` (fixext 1, type 0). Left to msgpackr: 64-bit
 * integers, float32, other extensions, other key types, invalid UTF-8, truncated or trailing
 * bytes. Folder-private.
 *
 * @module
 */

/** Thrown inside the reader when msgpackr must read the entry instead; never escapes. */
const UNREAD = Symbol("unread");

let src: Uint8Array = new Uint8Array(0);
let view: DataView = new DataView(src.buffer);
let pos = 0;
let end = 0;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Strings at most this long go through the cache. */
const CACHED_MAX = 24;
const CACHE_SLOTS = 4096;
/** A direct-mapped cache of strings by a hash of their bytes (a miss replaces the slot). */
const cache: (string | undefined)[] = new Array(CACHE_SLOTS).fill(undefined);

/**
 * The value msgpack `bytes[start, end)` holds, as msgpackr's `unpack` would give it, or
 * `undefined` with `ok` false when msgpackr must read it (see the module doc).
 */
export function readEntryValue(
  bytes: Uint8Array,
  start: number,
): { ok: true; value: unknown } | { ok: false } {
  src = bytes;
  view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  pos = start;
  end = bytes.length;
  try {
    const value = read();
    if (pos !== end) return { ok: false };
    return { ok: true, value };
  } catch (e) {
    if (e === UNREAD || e instanceof RangeError) return { ok: false };
    throw e;
  } finally {
    src = EMPTY;
  }
}

const EMPTY = new Uint8Array(0);

function need(n: number): void {
  if (n > end - pos) throw UNREAD;
}

function read(): unknown {
  need(1);
  const t = src[pos++];
  if (t < 0x80) return t; // positive fixint (no record structures: envelope.ts packs none)
  if (t < 0x90) return readMap(t - 0x80);
  if (t < 0xa0) return readArray(t - 0x90);
  if (t < 0xc0) return readString(t - 0xa0);
  if (t >= 0xe0) return t - 0x100; // negative fixint
  switch (t) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      return readBin(uint(1));
    case 0xc5:
      return readBin(uint(2));
    case 0xc6:
      return readBin(uint(4));
    case 0xd4:
      // msgpackr's `undefined`: fixext 1 of type 0 (its data byte is skipped).
      need(2);
      if (src[pos] !== 0) throw UNREAD;
      pos += 2;
      return undefined;
    case 0xd9:
      return readString(uint(1));
    case 0xda:
      return readString(uint(2));
    case 0xdb:
      return readString(uint(4));
    case 0xdc:
      return readArray(uint(2));
    case 0xdd:
      return readArray(uint(4));
    case 0xde:
      return readMap(uint(2));
    case 0xdf:
      return readMap(uint(4));
  }
  return readNumber(t);
}

/** An unsigned big-endian integer of `bytes` bytes (a length). */
function uint(bytes: 1 | 2 | 4): number {
  need(bytes);
  pos += bytes;
  return bytes === 1
    ? src[pos - 1]
    : bytes === 2
    ? view.getUint16(pos - 2)
    : view.getUint32(pos - 4);
}

/** float64 and the integers up to 32 bits; the rest (float32, 64-bit, ext) is msgpackr's. */
function readNumber(t: number): number {
  switch (t) {
    case 0xcb:
      need(8);
      pos += 8;
      return view.getFloat64(pos - 8);
    case 0xcc:
      return uint(1);
    case 0xcd:
      return uint(2);
    case 0xce:
      return uint(4);
    case 0xd0:
      need(1);
      return view.getInt8(pos++);
    case 0xd1:
      need(2);
      pos += 2;
      return view.getInt16(pos - 2);
    case 0xd2:
      need(4);
      pos += 4;
      return view.getInt32(pos - 4);
  }
  throw UNREAD;
}

function readArray(n: number): unknown[] {
  if (n > end - pos) throw UNREAD; // each item takes a byte at least
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = read();
  return out;
}

function readMap(n: number): Record<string, unknown> {
  if (n > (end - pos) / 2) throw UNREAD;
  if (n >= 1 && n <= 3 && at(CMD)) return readProposal(n);
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const key = readKey();
    out[key] = read();
  }
  return out;
}

/** A map's key. */
function readKey(): string {
  need(1);
  const t = src[pos++];
  // A key of 32 bytes or more is a str8/16/32 (a long header name): read here too, since
  // msgpackr's reading of its strings depends on whether its native extractor loaded (it
  // needs --allow-ffi), and a node must decode what the leader applied (`ownEntry`). Other
  // key types msgpackr reads through its general path (and strings them): left to it.
  let key: string;
  if (t >= 0xa0 && t < 0xc0) key = readString(t - 0xa0);
  else if (t === 0xd9) key = readString(uint(1));
  else if (t === 0xda) key = readString(uint(2));
  else if (t === 0xdb) key = readString(uint(4));
  else throw UNREAD;
  return key === "__proto__" ? "__proto_" : key; // as msgpackr does
}

/*
 * Proposals. Every node but the leader reads every proposal of every entry, nearly all of one
 * shape: a stream or client publish is `{cmd: {op, queue, message: {body, id}}, session: {id,
 * seq, lowest}}`. Read by the loop above, each of its four maps was an empty object given its keys
 * one by one (a store by a computed key, which V8 looks up by the object's shape and the key
 * among every shape it saw there) and each of its 11 keys a string looked up in the cache. Here
 * the keys of that shape are matched as bytes and its maps made as object literals with their
 * keys in the same order: the same values (keys, order and values alike: a key sequence that
 * differs is read by the loop). Where a nested map is not of the shape, it is read by `read()`.
 */

/** A key as msgpackr writes it (fixstr: every key here is shorter than 32 bytes). */
function keyBytes(key: string): Uint8Array {
  return Uint8Array.from([0xa0 | key.length, ...[...key].map((c) => c.charCodeAt(0))]);
}

const CMD = keyBytes("cmd");
const SESSION = keyBytes("session");
const OP = keyBytes("op");
const QUEUE = keyBytes("queue");
const MESSAGE = keyBytes("message");
const BODY = keyBytes("body");
const ID = keyBytes("id");
const SEQ = keyBytes("seq");
const LOWEST = keyBytes("lowest");

/** Whether `bytes` come next; if so, moves past them. */
function at(bytes: Uint8Array): boolean {
  const n = bytes.length;
  if (n > end - pos) return false;
  for (let i = 0; i < n; i++) if (src[pos + i] !== bytes[i]) return false;
  pos += n;
  return true;
}

/** Whether a map 16 of `count` keys comes next (msgpackr's for every object); if so, moves past it. */
function atMap16(count: number): boolean {
  if (3 > end - pos || src[pos] !== 0xde || src[pos + 1] !== 0 || src[pos + 2] !== count) {
    return false;
  }
  pos += 3;
  return true;
}

/** A map of `n` keys whose first key, `cmd`, was just read: a proposal, mostly. */
function readProposal(n: number): Record<string, unknown> {
  const cmd = readCommand();
  if (n === 1) return { cmd };
  let out: Record<string, unknown>;
  let i = 1;
  if (at(SESSION)) {
    const session = readSessionRef();
    if (n === 2) return { cmd, session };
    out = { cmd, session };
    i = 2;
  } else out = { cmd };
  // Other keys (an owner, an Idempotency-Key) as the loop reads them: a repeated key keeps its
  // first place and takes its last value.
  for (; i < n; i++) {
    const key = readKey();
    out[key] = read();
  }
  return out;
}

/** `{op, queue, message}` (a publish), or whatever `read()` makes of the value. */
function readCommand(): unknown {
  const start = pos;
  if (atMap16(3) && at(OP)) {
    const op = read();
    if (at(QUEUE)) {
      const queue = read();
      if (at(MESSAGE)) return { op, queue, message: readMessage() };
    }
  }
  pos = start;
  return read();
}

/** `{body}` or `{body, id}`, or whatever `read()` makes of the value. */
function readMessage(): unknown {
  const start = pos;
  const n = 3 <= end - pos && src[pos] === 0xde && src[pos + 1] === 0 ? src[pos + 2] : 0;
  if (n === 1 || n === 2) {
    pos += 3;
    if (at(BODY)) {
      const body = read();
      if (n === 1) return { body };
      if (at(ID)) return { body, id: read() };
    }
  }
  pos = start;
  return read();
}

/** `{id, seq, lowest}` (a session place), or whatever `read()` makes of the value. */
function readSessionRef(): unknown {
  const start = pos;
  if (atMap16(3) && at(ID)) {
    const id = read();
    if (at(SEQ)) {
      const seq = read();
      if (at(LOWEST)) return { id, seq, lowest: read() };
    }
  }
  pos = start;
  return read();
}

function readBin(n: number): Uint8Array {
  need(n);
  pos += n;
  return src.subarray(pos - n, pos);
}

function readString(n: number): string {
  need(n);
  const at = pos;
  pos += n;
  if (n > CACHED_MAX) return n <= CHARS_MAX ? uncached(at, n) : decode(at, n);
  // A hash of the bytes; an ASCII hit is checked byte against char code.
  let h = n;
  let ascii = true;
  for (let i = at; i < at + n; i++) {
    const b = src[i];
    if (b >= 0x80) ascii = false;
    h = (Math.imul(h, 31) + b) | 0;
  }
  if (!ascii) return decode(at, n);
  const slot = (h ^ (h >>> 12)) & (CACHE_SLOTS - 1);
  const hit = cache[slot];
  if (hit !== undefined && hit.length === n) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (hit.charCodeAt(i) !== src[at + i]) {
        same = false;
        break;
      }
    }
    if (same) return hit;
  }
  const s = n === 0 ? "" : asciiString(at, n);
  cache[slot] = s;
  return s;
}

/**
 * ASCII strings up to this long are made in JS (`asciiString`); longer ones, and any other UTF-8,
 * by a `TextDecoder` call, which costs more than the string below this length (a 36-character
 * UUID id: ~0.3 µs more per message).
 */
const CHARS_MAX = 64;

/** Reused argument lists for `String.fromCharCode`, one per length (a flat string, no rope). */
const CHAR_CODES: number[][] = Array.from(
  { length: CHARS_MAX + 1 },
  (_, n) => new Array(n).fill(0),
);

/** A string too long for the cache: made in JS when it is ASCII. */
function uncached(at: number, n: number): string {
  for (let i = at; i < at + n; i++) if (src[i] >= 0x80) return decode(at, n);
  return asciiString(at, n);
}

function asciiString(at: number, n: number): string {
  const codes = CHAR_CODES[n];
  for (let i = 0; i < n; i++) codes[i] = src[at + i];
  return String.fromCharCode.apply(null, codes);
}

/** UTF-8 as msgpackr reads it: only valid UTF-8 is read here (msgpackr's readers differ on the rest). */
function decode(at: number, n: number): string {
  try {
    return utf8.decode(src.subarray(at, at + n));
  } catch {
    throw UNREAD;
  }
}
