/**
 * The msgpack reader of the broker's replicated bytes: Raft entries (`envelope.ts`) and snapshot
 * parts (`_snapshot_format.ts`), and of clients' stream frames that its own frame reader leaves.
 * It gives the very values msgpackr's `unpack` gives (envelope.ts's plain-maps packr) for what it
 * reads, and it reads every value that packr writes for plain data (see below). What it does not
 * read it refuses: the caller refuses the entry (or the batch item) on every node alike.
 *
 * Why not msgpackr, for replicated bytes: every replica must decode the same bytes to the same
 * value, and msgpackr's decoding is not a function of the bytes alone. Its strings come from its
 * native extractor (a napi addon, loaded only with --allow-ffi: `deno run -A` has it, `deno task
 * start` does not) or from its JS reader, and the two differ (the JS reader drops a leading
 * U+FEFF from a string over 64 bytes); and the addon rebuilds a process-wide token table each
 * time a worker loads it, so an extraction running meanwhile in another thread misparses and
 * msgpackr hands out strings out of step (a key read as bytes from elsewhere in the entry: seen in
 * CI, reproduced by decoding one entry in a loop while workers load msgpackr, 4 of 781,000).
 *
 * And for speed: msgpackr makes every key and short string of a batch entry a fresh string (~9
 * per MQTT message); here they come from a small cache of strings already made (equal strings).
 *
 * Read here: nil, booleans, integers up to 32 bits, float64, strings (valid UTF-8), bin, arrays,
 * maps with string keys, and msgpackr's `undefined` (fixext 1, type 0), nested at most
 * `DEPTH_MAX` deep: all that envelope.ts's packr writes for plain data (objects, arrays, strings,
 * numbers, booleans, null, undefined, `Uint8Array`; `entry_reader_property_test.ts`). Refused:
 * 64-bit integers (a BigInt), float32, other extensions (a Date), other key types, invalid UTF-8,
 * truncated or trailing bytes. Folder-private.
 *
 * @module
 */

import { skipValue } from "./_msgpack_skip.ts";

/** Thrown inside the reader for bytes it does not read; never escapes. */
const UNREAD = Symbol("unread");

let src: Uint8Array = new Uint8Array(0);
let view: DataView = new DataView(src.buffer);
let pos = 0;
let end = 0;
/** How many arrays and maps the value being read is inside of. */
let depth = 0;

/**
 * Deeper nesting is refused, at the same depth on every machine (a stack overflow would come at
 * a depth that depends on the machine and on how far V8 optimised the reader). A proposal is a
 * few levels deep; `own_entry.ts` keeps a value only up to 32 levels.
 */
const DEPTH_MAX = 64;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Strings at most this long go through the cache. */
const CACHED_MAX = 24;
const CACHE_SLOTS = 4096;
/** A direct-mapped cache of strings by a hash of their bytes (a miss replaces the slot). */
const cache: (string | undefined)[] = new Array(CACHE_SLOTS).fill(undefined);

/**
 * The value msgpack `bytes[start, end)` holds, as msgpackr's `unpack` would give it, or `ok`
 * false when the reader does not read it (see the module doc). A pure function of the bytes.
 */
export function readEntryValue(
  bytes: Uint8Array,
  start: number,
): { ok: true; value: unknown } | { ok: false } {
  begin(bytes, start);
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

function begin(bytes: Uint8Array, start: number): void {
  src = bytes;
  view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  pos = start;
  end = bytes.length;
  depth = 0;
}

/** In `readEntryItems`' answer, an item the reader does not read (refused alone). */
export const UNREADABLE: unique symbol = Symbol("unreadable");

/**
 * The items of the msgpack array `bytes[start, end)` (a batch entry), each as `readEntryValue`
 * reads it, or `UNREADABLE` for one it does not read but can step over (its extent is plain
 * msgpack): so one such item is refused alone and its neighbours still apply. Undefined when the
 * whole is not read: not an array, truncated, trailing bytes, or an item it cannot step over.
 * A pure function of the bytes.
 */
export function readEntryItems(bytes: Uint8Array, start: number): unknown[] | undefined {
  begin(bytes, start);
  try {
    const n = arrayHeader();
    if (n > end - pos) return undefined; // each item takes a byte at least
    const items: unknown[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const at = pos;
      try {
        depth = 1;
        items[i] = read();
      } catch (e) {
        if (e !== UNREAD) throw e;
        // Stepped over as plain msgpack, within the depth the reader allows an item.
        pos = skipValue(src, at, end, DEPTH_MAX - 1);
        if (pos < 0) return undefined;
        items[i] = UNREADABLE;
      }
    }
    return pos === end ? items : undefined;
  } catch (e) {
    if (e === UNREAD || e instanceof RangeError) return undefined;
    throw e;
  } finally {
    src = EMPTY;
  }
}

/** The length of the array whose header comes next. */
function arrayHeader(): number {
  need(1);
  const t = src[pos++];
  if (t >= 0x90 && t < 0xa0) return t - 0x90;
  if (t === 0xdc) return uint(2);
  if (t === 0xdd) return uint(4);
  throw UNREAD;
}

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

/** float64 and the integers up to 32 bits; the rest (float32, 64-bit, ext) is refused. */
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
  if (++depth > DEPTH_MAX) throw UNREAD;
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = read();
  depth--;
  return out;
}

function readMap(n: number): Record<string, unknown> {
  if (n > (end - pos) / 2) throw UNREAD;
  if (++depth > DEPTH_MAX) throw UNREAD;
  let out: Record<string, unknown> | undefined;
  if (n >= 1 && n <= 3 && at(CMD)) out = readProposal(n);
  else if (n !== 3 || (out = readSubjectMessage()) === undefined) out = readPairs(n);
  depth--;
  return out;
}

/** A map's `n` keys and values, by the loop. */
function readPairs(n: number): Record<string, unknown> {
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
  // A key of 32 bytes or more is a str8/16/32 (a long header name). Other key types (msgpackr
  // makes strings of them) are refused: envelope.ts's packr writes only string keys.
  let key: string;
  if (t >= 0xa0 && t < 0xc0) key = readString(t - 0xa0);
  else if (t === 0xd9) key = readString(uint(1));
  else if (t === 0xda) key = readString(uint(2));
  else if (t === 0xdb) key = readString(uint(4));
  else throw UNREAD;
  return key === "__proto__" ? "__proto_" : key; // as msgpackr does
}

/*
 * Proposals. Nearly every proposal is a stream or client publish, `{cmd: {op, queue, message:
 * {body, id}}, session: {id, seq, lowest}}`: its keys are matched as bytes and its maps made as
 * object literals with the keys in the same order (no store by a computed key, no cache lookup
 * per key): the same values, keys and order alike (another key sequence is read by the loop).
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
const HEADERS = keyBytes("headers");
const SUBJECT = keyBytes("subject");

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

/**
 * A map of 3 keys that are `{body, headers, subject}` in this order (every MQTT PUBLISH's message,
 * as `withBody` in src/http/render.ts makes it), as the object literal the loop would make; or
 * undefined, nothing read, when the keys are others (the caller reads the map by the loop).
 */
function readSubjectMessage(): Record<string, unknown> | undefined {
  const start = pos;
  if (at(BODY)) {
    const body = read();
    if (at(HEADERS)) {
      const headers = read();
      if (at(SUBJECT)) return { body, headers, subject: read() };
    }
  }
  pos = start;
  return undefined;
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
