/**
 * Test helper: JSON-like values for the property tests of the msgpack writers and readers.
 *
 * @module
 */

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
