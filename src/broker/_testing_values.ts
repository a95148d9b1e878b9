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
