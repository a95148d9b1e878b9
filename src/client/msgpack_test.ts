import assert from "node:assert/strict";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { packValue, unpackValue } from "./msgpack.ts";

// msgpackr's JS reader, the oracle here, drops a leading U+FEFF from a string over 64 bytes (its
// TextDecoder does not ignore the BOM); the project's readers keep it, which
// forward_frames_permissions_test.ts and stream_frames_permissions_test.ts check. So the oracle is
// not asked about such strings.
const noLeadingBom = (s: string): string => (s.startsWith("\uFEFF") ? `x${s}` : s);

const msgpackr = new Packr({ useRecords: false, mapsAsObjects: true });

const json = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v)));
// msgpackr renames a `__proto__` key to `__proto_` (its guard against prototype pollution), so
// the cross-check leaves those out; this codec's own round trip keeps them (test below).
const crossJson = json.filter((v) => !JSON.stringify(v).includes('"__proto__"'));

Deno.test("msgpack: what the client packs, msgpackr reads the same, and back", () => {
  fc.assert(
    fc.property(crossJson, (value) => {
      assert.deepEqual(msgpackr.unpack(packValue(value)), value);
      assert.deepEqual(unpackValue(msgpackr.pack(value)), value);
    }),
    { numRuns: 500 },
  );
});

Deno.test("msgpack: long strings, big maps, and what it refuses", () => {
  const big = {
    s: "x".repeat(70_000),
    m: Object.fromEntries([...Array(40)].map((_, i) => [`k${i}`, i])),
  };
  assert.deepEqual(unpackValue(packValue(big)), big);
  assert.deepEqual(unpackValue(msgpackr.pack(big)), big);
  assert.throws(() => unpackValue(new Uint8Array([0x82, 0xa1])), RangeError);
  assert.throws(() => unpackValue(new Uint8Array([0xc1])), RangeError);
  assert.throws(() => unpackValue(new Uint8Array([0x01, 0x02])), RangeError);
});

Deno.test("msgpack: a __proto__ key is an own property, never the prototype", () => {
  const value = JSON.parse('{"__proto__":{"polluted":1}}');
  const back = unpackValue(packValue(value)) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
  assert.deepEqual(Object.keys(back), ["__proto__"]);
  fc.assert(fc.property(json, (v) => assert.deepEqual(unpackValue(packValue(v)), v)));
  assert.equal((back as { polluted?: number }).polluted, undefined);
});

Deno.test("msgpack: short and long strings of any text, a prefix byte, and the reused buffer", () => {
  // Short strings are written a character at a time when ASCII: every other one must fall back.
  const text = fc.string({ unit: "binary", maxLength: 80 }).map(noLeadingBom);
  fc.assert(
    fc.property(fc.dictionary(text, text, { maxKeys: 5 }), text, (map, s) => {
      const value = JSON.parse(JSON.stringify({ map, s, list: [s, s.length] }));
      assert.deepEqual(unpackValue(packValue(value)), value);
      // fast-check's dictionaries offer a `__proto__` key now and then, which msgpackr renames
      // (see the first test): the cross-check with msgpackr leaves those values out.
      if (!Object.hasOwn(map, "__proto__")) {
        assert.deepEqual(msgpackr.unpack(packValue(value)), value);
        assert.deepEqual(unpackValue(msgpackr.pack(value)), value);
      }
      const framed = packValue(value, 1);
      assert.equal(framed[0], 1);
      assert.deepEqual(unpackValue(framed.subarray(1)), value);
    }),
    { numRuns: 500 },
  );
  // One value larger than the kept buffer, then small ones: each result is its own copy.
  const large = { j: "é".repeat(600_000) };
  const first = packValue({ a: "x" });
  assert.deepEqual(unpackValue(packValue(large)), large);
  const second = packValue({ b: "y" });
  assert.deepEqual(unpackValue(first), { a: "x" });
  assert.deepEqual(unpackValue(second), { b: "y" });
});
