/**
 * `readEntryValue` (the hand reader every node decodes entries with) against msgpackr's `unpack`
 * with envelope.ts's options, by fast-check: any value msgpackr packs reads back as msgpackr reads
 * it (or is refused), and any bytes (random, or a packed value with a byte changed, cut short or
 * followed by more) the reader takes are bytes msgpackr reads to the same value. Bytes msgpackr
 * refuses, the reader must refuse (an entry that failed to decode must still fail).
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { readEntryValue } from "./_entry_reader.ts";
import { nestedValues, sameAsSteady } from "./_testing_values.ts";

// msgpackr's JS reader, the oracle here, drops a leading U+FEFF from a string over 64 bytes (its
// TextDecoder does not ignore the BOM); the project's readers keep it, which
// forward_frames_permissions_test.ts and stream_frames_permissions_test.ts check. So the oracle is
// not asked about such strings.
const noLeadingBom = (s: string): string => (s.startsWith("\uFEFF") ? `x${s}` : s);

// envelope.ts's packr: what entries are written with and read back with.
const packr = new Packr({ useRecords: false, moreTypes: false });

/** The reader against msgpackr on the same bytes: taken only where msgpackr reads the same. */
function agrees(bytes: Uint8Array): boolean {
  const fast = readEntryValue(bytes, 1);
  if (!fast.ok) return false;
  sameAsSteady(fast.value, () => packr.unpack(bytes.subarray(1)));
  return true;
}

const key = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "toString", "0", "17", "", "op", "cmd", "ts"),
  fc.string({ maxLength: 8 }),
  fc.string({ unit: "grapheme", maxLength: 12 }).map(noLeadingBom),
  fc.string({ minLength: 20, maxLength: 40 }),
);

const scalar = fc.oneof(
  fc.constantFrom(null, undefined, true, false, -0, NaN, Infinity, -Infinity, 0.5, 2 ** 53),
  fc.integer(),
  fc.integer({ min: -(2 ** 31), max: 2 ** 32 }),
  fc.maxSafeInteger(),
  fc.double(),
  fc.float(),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: "binary", maxLength: 30 }).map(noLeadingBom),
  fc.string({ unit: "grapheme", maxLength: 30 }).map(noLeadingBom),
  fc.string({ minLength: 200, maxLength: 300 }),
  fc.uint8Array({ maxLength: 40 }),
);

const value = nestedValues(scalar, key);

/** The bytes of an entry (a version byte, then msgpack) for `v`. */
function entryBytes(v: unknown): Uint8Array {
  const packed = packr.pack(v);
  const out = new Uint8Array(packed.length + 1);
  out[0] = 1;
  out.set(packed, 1);
  return out;
}

Deno.test("entry reader property: a packed value reads back as msgpackr reads it", () => {
  let read = 0;
  fc.assert(
    fc.property(value, (v) => {
      if (agrees(entryBytes(v))) read++;
    }),
    { numRuns: 3000 },
  );
  assert(read > 1500, `read ${read} of 3000`);
});

Deno.test("entry reader property: damaged bytes the reader takes are bytes msgpackr reads the same", () => {
  const damaged = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 40 }),
    fc.tuple(value, fc.nat(), fc.nat({ max: 255 })).map(([v, at, b]) => {
      const bytes = entryBytes(v);
      bytes[1 + (at % (bytes.length - 1))] = b;
      return bytes;
    }),
    fc.tuple(value, fc.nat()).map(([v, cut]) => {
      const bytes = entryBytes(v);
      return bytes.subarray(0, 1 + (cut % bytes.length));
    }),
    fc.tuple(value, fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([v, more]) => {
      const bytes = entryBytes(v);
      const out = new Uint8Array(bytes.length + more.length);
      out.set(bytes);
      out.set(more, bytes.length);
      return out;
    }),
  );
  fc.assert(fc.property(damaged, (bytes) => void agrees(bytes)), { numRuns: 20_000 });
});
