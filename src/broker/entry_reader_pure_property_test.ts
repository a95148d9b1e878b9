/**
 * Every node decodes an entry from its bytes alone (`decodeEntry`, by `_entry_reader.ts` and
 * nothing else), by fast-check: entries holding any msgpack msgpackr writes (dates, BigInts,
 * float32, sets, besides plain data), whole or damaged, are either read by the entry reader (the
 * same value, whatever was decoded before) or refused: never read another way. A batch item the
 * reader does not read is stepped over as plain msgpack and refused alone.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { FLOAT32_OPTIONS, Packr } from "msgpackr";
import { decodeEntry } from "./envelope.ts";
import { readEntryItems, readEntryValue, UNREADABLE } from "./_entry_reader.ts";
import { nestedValues, same } from "./_testing_values.ts";
import { concatParts } from "./_snapshot_format.ts";

// envelope.ts's packr (a Date, a BigInt: msgpack the reader refuses), and one writing float32.
const plain = new Packr({ useRecords: false, moreTypes: false });
const wide = new Packr({ useRecords: false, moreTypes: false, useFloat32: FLOAT32_OPTIONS.ALWAYS });
/** With `moreTypes`, msgpackr writes a Set as an extension followed by an array of its own. */
const withSets = new Packr({ useRecords: false, moreTypes: true });

const scalar = fc.oneof(
  fc.constantFrom(null, undefined, true, false, 0.5, 1.25, -0.75, 2 ** 40, "publish", "q", "ts"),
  fc.integer(),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "grapheme", maxLength: 8 }),
  fc.uint8Array({ maxLength: 20 }),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.date({ noInvalidDate: true }),
  fc.constantFrom(new Set([1, "a"]), new Map([["k", 1]]), new Int16Array([1, -2]), /re/g),
);
const key = fc.oneof(
  fc.constantFrom("cmd", "op", "ts", "__proto__", ""),
  fc.string({ maxLength: 6 }),
);
const value = nestedValues(scalar, key);
const packers = fc.constantFrom(plain, wide, withSets);
const plainPackers = fc.constantFrom(plain, wide);
/** A proposal-like value: a map with an op, and anything else. */
const proposalBy = (by: fc.Arbitrary<Packr>) =>
  fc.tuple(fc.constantFrom("tick", "publish"), value, by).map(([op, v, p]) =>
    p.pack({ cmd: { op, v } })
  );

/** A batch entry of packed proposals, and each proposal's bytes. */
const batchBy = (by: fc.Arbitrary<Packr>) =>
  fc.array(proposalBy(by), { minLength: 1, maxLength: 8 }).map((ps) => ({
    ps,
    bytes: concatParts([Uint8Array.of(2, 0x90 | (ps.length + 1)), plain.pack({ ts: 5 }), ...ps]),
  }));
const batch = batchBy(packers);
const lone = fc.tuple(value, packers).map(([v, p]) =>
  concatParts([Uint8Array.of(1), p.pack({ ts: 5, cmd: { op: "tick", v } })])
);
const damaged = fc.tuple(fc.oneof(lone, batch.map((b) => b.bytes)), fc.nat(), fc.nat(255)).map(
  ([bytes, at, b]) => {
    const out = bytes.slice();
    out[1 + (at % (out.length - 1))] = b;
    return out;
  },
);

/** `decodeEntry(bytes)`, or undefined when it refuses the entry. */
function decoded(bytes: Uint8Array) {
  try {
    return decodeEntry(bytes);
  } catch {
    return undefined;
  }
}

/** What `decodeEntry` gives is what the entry reader reads from those bytes, or a refusal. */
function onlyTheReader(bytes: Uint8Array): void {
  const entry = decoded(bytes);
  if (entry === undefined) return;
  if (!entry.batch) {
    const read = readEntryValue(bytes, 1);
    assert(read.ok, "decoded bytes the entry reader does not read");
    same(entry.items[0], read.value);
    return;
  }
  const items = readEntryItems(bytes, 1);
  assert(items !== undefined, "decoded a batch the entry reader does not read");
  assert.equal(entry.items.length, items.length - 1);
  entry.items.forEach((item, i) => {
    if (item !== undefined) same(item, items[i + 1]);
  });
}

Deno.test("entry reader property: decodeEntry reads an entry with the entry reader or refuses it", () => {
  fc.assert(fc.property(fc.oneof(lone, damaged), onlyTheReader), { numRuns: 4000 });
});

Deno.test("entry reader property: a batch item the reader does not read is stepped over and refused alone", () => {
  let refused = 0;
  fc.assert(
    fc.property(batchBy(plainPackers), ({ ps, bytes }) => {
      const items = readEntryItems(bytes, 1);
      assert(items !== undefined, "a batch of whole msgpack values was not read");
      assert.equal(items.length, ps.length + 1);
      const entry = decodeEntry(bytes);
      ps.forEach((p, i) => {
        const alone = readEntryValue(Uint8Array.of(0, ...p), 1);
        if (!alone.ok) {
          refused++;
          assert.equal(items[i + 1], UNREADABLE);
          assert.equal(entry.items[i], undefined);
        } else same(items[i + 1], alone.value);
      });
      // Cut short, the batch is refused whole.
      assert.equal(readEntryItems(bytes.subarray(0, bytes.length - 1), 1), undefined);
    }),
    { numRuns: 1500 },
  );
  assert(refused > 300, `only ${refused} items refused`);
});

Deno.test("entry reader property: an entry decodes to the same value whatever was decoded before", () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(lone, damaged), { minLength: 2, maxLength: 12 }), (list) => {
      const first = list.map(decoded);
      // Again, in reverse order, each after all the others.
      for (let i = list.length - 1; i >= 0; i--) same(decoded(list[i]), first[i]);
    }),
    { numRuns: 300 },
  );
});

Deno.test("a batch item that is more than one plain msgpack value (msgpackr's Set) refuses its batch whole", () => {
  const good = plain.pack({ cmd: { op: "tick" } });
  const set = withSets.pack({ cmd: { op: "tick", v: new Set([1]) } });
  const bytes = concatParts([Uint8Array.of(2, 0x93), plain.pack({ ts: 5 }), set, good]);
  assert.equal(readEntryItems(bytes, 1), undefined);
  assert.throws(() => decodeEntry(bytes), /Cannot decode batch/);
});
