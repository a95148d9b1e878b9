import assert from "node:assert/strict";
import { RaftLog } from "./log.ts";
import { type Entry, EntryKind } from "./types.ts";

const e = (index: number, term: number, size = 0): Entry => ({
  index,
  term,
  kind: EntryKind.Normal,
  data: new Uint8Array(size),
});

Deno.test("RaftLog.findConflictByTerm() skips entries with a larger term", () => {
  const log = new RaftLog(undefined, [e(1, 1), e(2, 1), e(3, 2), e(4, 3), e(5, 3)], 0);
  assert.deepEqual(log.findConflictByTerm(5, 2), { index: 3, term: 2 });
  assert.deepEqual(log.findConflictByTerm(5, 1), { index: 2, term: 1 });
  assert.deepEqual(log.findConflictByTerm(9, 3), { index: 5, term: 3 });
  assert.deepEqual(log.findConflictByTerm(5, 0), { index: 0, term: 0 });
});

Deno.test("RaftLog.maybeAppend() refuses to truncate committed entries", () => {
  const log = new RaftLog(undefined, [e(1, 1), e(2, 1)], 2);
  assert.throws(() => log.maybeAppend(1, 1, 2, [e(2, 2)]), /conflicts with committed/);
});

Deno.test("RaftLog.maybeAppend() commits only up to the last new entry", () => {
  const log = new RaftLog(undefined, [], 0);
  assert.equal(log.maybeAppend(0, 0, 10, [e(1, 1), e(2, 1)]), 2);
  assert.equal(log.committed, 2);
  assert.equal(log.maybeAppend(5, 1, 10, []), undefined);
});

Deno.test("RaftLog.slice() honours maxBytes but returns at least one entry", () => {
  const log = new RaftLog(undefined, [e(1, 1, 100), e(2, 1, 100), e(3, 1, 100)], 0);
  assert.equal(log.slice(1, 4, 10).length, 1);
  assert.equal(log.slice(1, 4, 260).length, 2);
  assert.equal(log.slice(1, 4).length, 3);
});

Deno.test("RaftLog.stableTo() ignores an index whose entry was replaced meanwhile", () => {
  const log = new RaftLog(undefined, [e(1, 1)], 0);
  log.append([e(2, 1), e(3, 1)]);
  log.append([e(3, 2)]); // replaced before the driver reported the first write
  log.stableTo(3, 1);
  assert.equal(log.stable, 1);
  log.stableTo(3, 2);
  assert.equal(log.stable, 3);
});

Deno.test("RaftLog.compact() keeps the suffix and answers term lookups at the boundary", () => {
  const log = new RaftLog(undefined, [e(1, 1), e(2, 1), e(3, 2), e(4, 2)], 4);
  log.appliedTo(3);
  log.compact({
    meta: { index: 3, term: 2, conf: { voters: [], learners: [] } },
    data: new Uint8Array(),
  });
  assert.equal(log.firstIndex(), 4);
  assert.equal(log.term(3), 2);
  assert.equal(log.term(2), undefined);
  assert.equal(log.entry(4).term, 2);
});
