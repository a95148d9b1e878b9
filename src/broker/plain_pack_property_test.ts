/**
 * `packPlain` (proposals packed by hand) against msgpackr's `pack` with envelope.ts's options, by
 * fast-check: whatever it packs is byte for byte what msgpackr packs, whatever the value (the
 * ones it leaves to msgpackr included: undefined then), and a value it packs is one `ownEntry`
 * keeps as it is (`keepsItsValue`), so the leader may skip that walk for it.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { packedPlain, packPlain } from "./_plain_pack.ts";
import { nestedValues } from "./_testing_values.ts";
import { keepsItsValue } from "./own_entry.ts";
import { decodeEntry, encodeEntry, packProposal, proposalBytes } from "./envelope.ts";
import type { Proposal } from "./commands.ts";

// envelope.ts's packr.
const packr = new Packr({ useRecords: false, moreTypes: false });

const key = fc.oneof(
  fc.constantFrom(
    "__proto__",
    "constructor",
    "toJSON",
    "hasOwnProperty",
    "toString",
    "0",
    "17",
    "",
    "op",
    "cmd",
    "body",
    "id",
  ),
  fc.string({ maxLength: 8 }),
  fc.string({ unit: "binary", maxLength: 6 }),
  fc.string({ minLength: 30, maxLength: 40 }),
);

const scalar = fc.oneof(
  fc.constantFrom(null, undefined, true, false, -0, 0, NaN, Infinity, 0.5, 2 ** 53, 2 ** 32),
  fc.constantFrom(0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 2 ** 32 - 1, -1, -32, -33),
  fc.integer(),
  fc.integer({ min: 0, max: 2 ** 32 }),
  fc.maxSafeInteger(),
  fc.double(),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.string({ unit: "grapheme", maxLength: 30 }),
  fc.string({ minLength: 250, maxLength: 300 }),
  fc.uint8Array({ maxLength: 40 }),
  fc.uint8Array({ minLength: 250, maxLength: 300 }),
);

const value = nestedValues(scalar, key);

const PLAIN = { noNullPrototype: true } as const;

/** A publish proposal as the HTTP layer makes them (`proposalOf`, `toMessageInput`). */
const publishProposal = fc.record(
  {
    cmd: fc.record({
      op: fc.constantFrom("publish", "topic_publish"),
      queue: fc.string({ minLength: 1, maxLength: 20 }),
      message: fc.record(
        {
          body: fc.uint8Array({ maxLength: 300 }),
          id: fc.string({ minLength: 1, maxLength: 40 }),
          group: fc.string({ maxLength: 8 }),
          delayMs: fc.nat(),
          headers: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 10 }), {
            maxKeys: 3,
            noNullPrototype: true,
          }),
        },
        { requiredKeys: ["body"], noNullPrototype: true },
      ),
    }, PLAIN),
    idem: fc.record({ key: fc.string({ maxLength: 20 }), fp: fc.string({ maxLength: 20 }) }, PLAIN),
    session: fc.record({ id: fc.nat(), seq: fc.nat(), lowest: fc.nat() }, PLAIN),
    owner: fc.string({ maxLength: 10 }),
  },
  { requiredKeys: ["cmd"], noNullPrototype: true },
);

function bytesEqual(a: Uint8Array, b: Uint8Array): void {
  assert.deepStrictEqual([...a], [...b]);
}

/** `packPlain` of `v` is msgpackr's bytes or undefined; packed means `keepsItsValue`. */
function agrees(v: unknown): boolean {
  let expected: Uint8Array | undefined;
  try {
    expected = packr.pack(v).slice();
  } catch {
    expected = undefined;
  }
  const plain = packPlain(v);
  if (plain === undefined) return false;
  assert(expected !== undefined, "packed a value msgpackr refuses");
  bytesEqual(plain, expected);
  assert(packedPlain(plain));
  assert(keepsItsValue(v, 0), "packed a value that does not keep its value");
  const own = packPlain(v, 32)!;
  bytesEqual(own, expected);
  assert.equal(own.byteOffset, 32);
  return true;
}

Deno.test("plain pack property: msgpackr's bytes for any value it takes", () => {
  let packed = 0;
  fc.assert(fc.property(value, (v) => void (agrees(v) && packed++)), { numRuns: 5000 });
  assert(packed > 1000, `packed ${packed} of 5000`);
});

Deno.test("plain pack property: a publish proposal packs to msgpackr's bytes and decodes", () => {
  let packed = 0;
  fc.assert(
    fc.property(publishProposal, (p) => {
      if (agrees(p)) packed++;
      // Through the entry as the leader writes it: every node decodes the same proposal.
      const bytes = proposalBytes(p as Proposal);
      bytesEqual(bytes, packr.pack(p));
      const entry = decodeEntry(encodeEntry({ ts: 5 }, [{ proposal: p as Proposal, bytes }]));
      assert.equal(entry.items.length, 1);
    }),
    { numRuns: 2000 },
  );
  assert(packed > 500, `packed ${packed} of 2000`);
});

Deno.test("plain pack: views of the shared buffer stay as written across buffers", () => {
  const kept: [unknown, Uint8Array][] = [];
  for (let i = 0; i < 600; i++) {
    const v = { cmd: { op: "publish", queue: "q", message: { body: new Uint8Array(i % 300) } } };
    kept.push([v, packProposal(v as Proposal).bytes]);
  }
  for (const [v, bytes] of kept) bytesEqual(bytes, packr.pack(v));
});

Deno.test("plain pack: values it leaves to msgpackr", () => {
  for (
    const v of [
      undefined,
      -0,
      -1,
      0.5,
      2 ** 32,
      "é",
      { __proto__: null, a: 1 },
      { constructor: "x" },
      JSON.parse('{"__proto__": 1}'),
      [undefined],
      // deno-lint-ignore no-sparse-arrays
      [1, , 2],
      new Date(0),
      new Map(),
      Buffer.from("ab"),
      { a: undefined },
    ]
  ) assert.equal(packPlain(v), undefined);
  let deep: unknown = 1;
  for (let i = 0; i < 40; i++) deep = [deep];
  assert.equal(packPlain(deep), undefined);
  assert.equal(packedPlain(new Uint8Array(1)), false);
  assert.equal(packedPlain(packr.pack({ a: 1 })), false);
});

Deno.test("plain pack: the longer headers (arrays, maps, strings, bytes) are msgpackr's", () => {
  const many = (n: number) => Array.from({ length: n }, (_, i) => i);
  const keys = (n: number) => Object.fromEntries(many(n).map((i) => [`k${i}`, i]));
  for (
    const v of [
      many(15),
      many(16),
      many(300),
      many(70_000),
      keys(15),
      keys(16),
      keys(300),
      "a".repeat(31),
      "a".repeat(32),
      "a".repeat(255),
      "a".repeat(256),
      "a".repeat(70_000),
      new Uint8Array(255),
      new Uint8Array(256),
      new Uint8Array(70_000),
      [0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 2 ** 32 - 1],
    ]
  ) assert(agrees(v));
});
