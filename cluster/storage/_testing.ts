/**
 * Helpers shared by the storage tests (not part of the public API).
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Entry, EntryKind } from "../raft/mod.ts";

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

/** A seeded PRNG (mulberry32) returning [0, 1): tests replay from their seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The entry the crash child writes at `index`: term and size follow from the index. */
export function crashEntry(index: number): Entry {
  const term = 1 + Math.floor(index / 500);
  return { index, term, kind: EntryKind.Normal, data: entryData(index, term, 16 + (index % 300)) };
}
