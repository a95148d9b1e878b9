/**
 * Helpers shared by the storage tests (not part of the public API).
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Entry, EntryKind } from "../raft/types.ts";

/** Deterministic entry data: its bytes depend on index and term, its length on the index. */
export function entryData(index: number, term: number, bytes = 8 + (index * 7) % 40): Uint8Array {
  return Uint8Array.from({ length: bytes }, (_, i) => (index * 31 + term * 17 + i) & 0xff);
}

/** An entry whose data can be checked later with `assertEntryIntact`. */
export function entry(index: number, term: number, bytes?: number): Entry {
  return { index, term, kind: EntryKind.Normal, data: entryData(index, term, bytes) };
}

/** Entries `from..to` inclusive, all of `term`. */
export function entries(from: number, to: number, term: number): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));
}

/** Assert `actual` is exactly `expected` (indexes, terms, kinds and bytes). */
export function assertEntries(actual: readonly Entry[], expected: readonly Entry[]): void {
  const brief = (es: readonly Entry[]) => es.map((e) => `${e.index}@${e.term}`).join(",");
  assert.equal(brief(actual), brief(expected));
  for (let i = 0; i < expected.length; i++) {
    assert.equal(actual[i].kind, expected[i].kind, `kind of entry ${expected[i].index}`);
    assert.deepEqual(actual[i].data, expected[i].data, `data of entry ${expected[i].index}`);
  }
}
