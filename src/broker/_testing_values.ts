/**
 * Test helper: JSON-like values for the property tests of the msgpack writers and readers, and
 * the strict equality they compare the values read with.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";

/** Arrays and maps of `scalar`s (keys from `key`), nested a few levels, shrinking across kinds. */
export function nestedValues(
  scalar: fc.Arbitrary<unknown>,
  key: fc.Arbitrary<string>,
): fc.Arbitrary<unknown> {
  return fc.letrec((tie) => ({
    any: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      scalar,
      fc.array(tie("any"), { maxLength: 6 }),
      fc.dictionary(key, tie("any"), { maxKeys: 6 }),
    ),
  })).any;
}

/** Deep equality that tells apart -0, NaN, undefined, a Buffer from a Uint8Array, key order. */
export function same(a: unknown, b: unknown, path = "$"): void {
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) {
    assert(Object.is(a, b), `${path}: ${String(a)} vs ${String(b)}`);
    return;
  }
  assert.strictEqual(Object.getPrototypeOf(a), Object.getPrototypeOf(b), `${path}: prototype`);
  if (a instanceof Uint8Array) {
    assert.deepStrictEqual([...a], [...(b as Uint8Array)], `${path}: bytes`);
    return;
  }
  assert.deepStrictEqual(Reflect.ownKeys(a), Reflect.ownKeys(b), `${path}: keys`);
  for (const k of Object.keys(a)) {
    same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
  }
}

/**
 * The entry reader's value against msgpackr's reading of the same bytes (`unpack`), its tests'
 * oracle: msgpackr must read them, to `value`. msgpackr's native string extractor now and then
 * misreads while another worker of the process loads it (the addon rebuilds a process-wide token
 * table: see `_entry_reader.ts`), as under `deno test --parallel`: so a reading that fails is
 * taken again, twice, and the steady one (the two alike) counts: a misreading does not repeat.
 */
export function sameAsSteady(value: unknown, unpack: () => unknown): void {
  const reading = (): { ok: true; value: unknown } | { ok: false } => {
    try {
      return { ok: true, value: unpack() };
    } catch {
      return { ok: false };
    }
  };
  const first = reading();
  if (first.ok) {
    try {
      same(value, first.value);
      return;
    } catch {
      // Read again below.
    }
  }
  const again = reading();
  const third = reading();
  assert.strictEqual(again.ok, third.ok, "msgpackr read the same bytes two ways");
  if (again.ok && third.ok) same(third.value, again.value);
  assert(again.ok, "the reader took bytes msgpackr refuses");
  same(value, again.value);
}
