/**
 * The hand reader of the stream's messages (`stream_read.ts`) against msgpackr, the reader it
 * stands in for: whatever it reads is what msgpackr reads taken by the stream's rules
 * (`takenValue`: a 64-bit integer a number when safe; the same value, keys in the same order),
 * a message with a value it refuses holds a `RefusedValue` (it is refused whatever else it
 * holds), and what it leaves to msgpackr is anything else. The frames the TypeScript client
 * sends are read by hand.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { packValue } from "../client/mod.ts";
import {
  BEYOND_SAFE,
  BINARY,
  EXTENSION,
  NOT_READ,
  readRefused,
  readStreamMessage,
  refusedIn,
  takenValue,
} from "./stream_read.ts";
import { decodeStreamMessage } from "./stream_frames.ts";

// msgpackr's JS reader, the oracle here, drops a leading U+FEFF from a string over 64 bytes (its
// TextDecoder does not ignore the BOM); the project's readers keep it, which
// forward_frames_permissions_test.ts and stream_frames_permissions_test.ts check. So the oracle is
// not asked about such strings.
const noLeadingBom = (s: string): string => (s.startsWith("\uFEFF") ? `x${s}` : s);

const msgpackr = new Packr({ useRecords: false, mapsAsObjects: true });

/** What msgpackr reads of `bytes` from 1 on: its value, or its error. */
function byMsgpackr(bytes: Uint8Array): { value: unknown } | { error: string } {
  try {
    return { value: msgpackr.unpack(bytes.subarray(1)) };
  } catch (error) {
    return { error: String(error) };
  }
}

/**
 * The property: the hand reader reads `bytes` as msgpackr does (taken by `takenValue`), or reads
 * a value it refuses (the message's frames are then refused: msgpackr may read anything, or
 * fail, past an extension), or leaves them to it.
 */
function sameAsMsgpackr(bytes: Uint8Array): boolean {
  const hand = readStreamMessage(bytes, 1);
  if (hand === NOT_READ) return false;
  if (readRefused()) {
    assert.notEqual(refusedIn(hand), undefined);
    return true;
  }
  const theirs = byMsgpackr(bytes);
  assert.ok("value" in theirs, `read by hand, refused by msgpackr: ${JSON.stringify(theirs)}`);
  const taken = takenValue(theirs.value);
  assert.equal(readRefused(), false);
  assert.deepEqual(hand, taken);
  // Same keys in the same order (deepEqual does not look at the order).
  assert.equal(JSON.stringify(hand), JSON.stringify(taken));
  return true;
}

const framed = (body: Uint8Array) => {
  const out = new Uint8Array(1 + body.length);
  out[0] = 1;
  out.set(body, 1);
  return out;
};

const text = fc.string({ unit: "binary", maxLength: 100 }).map(noLeadingBom);
const ascii = fc.string({
  unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)),
  maxLength: 80,
});
const header = fc.dictionary(fc.oneof(ascii, text), fc.oneof(ascii, text), { maxKeys: 4 });
const id = fc.oneof(fc.nat({ max: 200 }), fc.nat(), fc.maxSafeNat());

/** Frames as clients send them (`req`, `consume`, `credit`, `cancel`, `ping`, `hello`). */
const frame = fc.oneof(
  fc.record(
    {
      t: fc.constant("req"),
      i: id,
      m: fc.constantFrom("GET", "POST", "PUT", "DELETE"),
      p: fc.oneof(ascii, text),
      h: header,
      j: fc.oneof(ascii, text, fc.json()),
      b: fc.jsonValue({ maxDepth: 3 }),
    },
    { requiredKeys: ["t", "i", "m", "p"] },
  ),
  fc.record({ t: fc.constant("consume"), i: id, p: ascii, n: fc.nat(), b: fc.jsonValue() }, {
    requiredKeys: ["t", "i", "p", "n"],
  }),
  fc.record({ t: fc.constantFrom("credit", "cancel"), i: id, n: fc.integer() }),
  fc.record({ t: fc.constantFrom("ping", "hello"), token: text, batch: fc.boolean() }, {
    requiredKeys: ["t"],
  }),
).map((v) => JSON.parse(JSON.stringify(v)) as Record<string, unknown>);
const message = fc.oneof(frame, fc.array(frame, { minLength: 1, maxLength: 20 }));

Deno.test("stream reader: frames as the client and msgpackr pack them read as msgpackr reads them", () => {
  fc.assert(
    fc.property(message, (m) => {
      sameAsMsgpackr(packValue(m, 1));
      sameAsMsgpackr(framed(msgpackr.pack(m)));
    }),
    { numRuns: 2000 },
  );
});

Deno.test("stream reader: the TypeScript client's publish frames are read by hand, not left to msgpackr", () => {
  const publish = (i: number) => ({
    t: "req",
    i,
    m: "POST",
    p: "/v1/queues/orders/messages",
    h: { "quorumq-session": `7/${i}/${i - 3}` },
    j: JSON.stringify({ id: `m-${i}`, body: "a".repeat(256) }),
  });
  for (const m of [publish(1), publish(200), publish(70_000), [publish(3), publish(4_000_000)]]) {
    assert.ok(sameAsMsgpackr(packValue(m, 1)), JSON.stringify(m).slice(0, 80));
  }
  // A batch of 4096 (array 16), and a map's keys in the order sent.
  const batch = Array.from({ length: 4096 }, (_, k) => publish(k));
  assert.ok(sameAsMsgpackr(packValue(batch, 1)));
});

Deno.test("stream reader: any JSON value, and any bytes, read as msgpackr reads them or are left to it", () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
      const value = JSON.parse(JSON.stringify(v));
      sameAsMsgpackr(framed(msgpackr.pack(value)));
      sameAsMsgpackr(packValue(value, 1));
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (body) => {
      sameAsMsgpackr(framed(body));
    }),
    { numRuns: 5000 },
  );
  // Valid frames cut short, with bytes after them, or with one byte changed.
  fc.assert(
    fc.property(message, fc.nat(), fc.nat({ max: 255 }), (m, at, byte) => {
      const bytes = packValue(m, 1);
      sameAsMsgpackr(bytes.subarray(0, 1 + (at % (bytes.length - 1))));
      sameAsMsgpackr(framed(new Uint8Array([...bytes.subarray(1), byte])));
      const changed = bytes.slice();
      changed[1 + (at % (bytes.length - 1))] = byte;
      sameAsMsgpackr(changed);
    }),
    { numRuns: 3000 },
  );
});

Deno.test("stream reader: what it leaves to msgpackr (a __proto__ key, invalid UTF-8, a non-string key)", () => {
  const left = [JSON.parse('{"__proto__":1}'), new Map([[1, "x"]])];
  for (const v of left) {
    const bytes = framed(msgpackr.pack(v));
    assert.equal(readStreamMessage(bytes, 1), NOT_READ, String(v));
  }
  // A short string of invalid UTF-8 (a lone continuation byte).
  assert.equal(readStreamMessage(new Uint8Array([1, 0xa2, 0x61, 0x80]), 1), NOT_READ);
});

Deno.test("stream reader: short non-ASCII text, float32, safe 64-bit integers read by hand", () => {
  for (const v of [{ t: "req", p: "/v1/queues/\u00e9" }, ["\uFEFFa", "\u{1F600}"]]) {
    assert.ok(sameAsMsgpackr(framed(msgpackr.pack(v))), JSON.stringify(v));
  }
  const read = (...b: number[]) => readStreamMessage(new Uint8Array([1, ...b]), 1);
  assert.equal(read(0xca, 0x3f, 0xc0, 0, 0), 1.5);
  assert.equal(read(0xca, 0x3d, 0xcc, 0xcc, 0xcd), Math.fround(0.1));
  assert.equal(read(0xcf, 0, 0, 0, 0, 0, 0, 0, 1), 1);
  assert.equal(read(0xcf, 0, 0, 1, 0, 0, 0, 0, 0), 2 ** 40);
  assert.equal(read(0xcf, 0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 2 ** 53 - 1);
  assert.equal(read(0xd3, 0xff, 0xe0, 0, 0, 0, 0, 0, 1), -(2 ** 53) + 1);
  assert.equal(read(0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), -1);
  assert.equal(read(0xd3, 0, 0, 0, 0, 0, 0, 0, 5), 5);
  assert.equal(readRefused(), false);
});

Deno.test("stream reader: 64-bit integers beyond 2^53 - 1, extensions and bin are read as refused", () => {
  const read = (...b: number[]) => readStreamMessage(new Uint8Array([1, ...b]), 1);
  const cases: [number[], unknown][] = [
    [[0xcf, 0, 0x20, 0, 0, 0, 0, 0, 0], BEYOND_SAFE], // 2^53
    [[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], BEYOND_SAFE],
    [[0xd3, 0xff, 0xe0, 0, 0, 0, 0, 0, 0], BEYOND_SAFE], // -2^53
    [[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0], BEYOND_SAFE],
    [[0xd3, 0x00, 0x20, 0, 0, 0, 0, 0, 0], BEYOND_SAFE],
    [[0xd6, 0xff, 0x65, 0x53, 0xf1, 0], EXTENSION], // a timestamp
    [[0xd4, 0x2a, 7], EXTENSION],
    [[0xc7, 0, 0x2a], EXTENSION],
    [[0xc8, 0, 2, 0x2a, 1, 2], EXTENSION],
    [[0xc4, 2, 1, 2], BINARY],
  ];
  for (const [bytes, why] of cases) {
    assert.equal(read(...bytes), why, bytes.join(","));
    assert.equal(readRefused(), true);
    // In a frame, beside what it holds else.
    assert.deepEqual(read(0x92, ...bytes, 0xa1, 0x61), [why, "a"]);
  }
  // Truncated: left to msgpackr, which fails as it did.
  assert.equal(read(0xcf, 0, 0), NOT_READ);
  assert.equal(read(0xd7, 0xff, 0), NOT_READ);
});

Deno.test("stream reader: records (msgpackr's own encoding) are left to msgpackr; __proto__ renamed", () => {
  // Records (msgpackr's extension, then a value more, then fixints 0x40..0x7f naming them): not
  // msgpack's ext layout, so not read here; msgpackr reads them as the plain maps they are.
  const records = framed(new Packr({ useRecords: true }).pack([{ a: 7 }, { a: 8 }]));
  assert.equal(readStreamMessage(records, 1), NOT_READ);
  assert.deepEqual(msgpackr.unpack(records.subarray(1)), [{ a: 7 }, { a: 8 }]);
  const [frame] = decodeStreamMessage(
    framed(new Packr({ useRecords: true }).pack({ t: "cancel", i: 4 })),
  );
  assert.deepEqual(frame, { ok: true, frame: { t: "cancel", i: 4 } });
  // Without one, such a fixint is a number, for both.
  assert.ok(sameAsMsgpackr(new Uint8Array([1, 0x45])));
  // Such a message still decodes, by msgpackr, with its rename of `__proto__`.
  const [decoded] = decodeStreamMessage(
    framed(msgpackr.pack(JSON.parse('{"t":"ping","__proto__":1}'))),
  );
  assert.ok(decoded.ok);
  assert.deepEqual(Object.keys(decoded.frame), ["t", "__proto_"]);
});
