import assert from "node:assert/strict";
import type { Entry, Snapshot } from "../../cluster/raft/mod.ts";
import { Disk, lastIndexOf, termAt } from "./disk.ts";
import { Prng } from "./prng.ts";

function ent(index: number, term: number): Entry {
  return { index, term, kind: 0, data: new Uint8Array([index]) };
}

function snap(index: number, term: number): Snapshot {
  return { meta: { index, term, conf: { voters: ["n1"], learners: [] } }, data: new Uint8Array() };
}

/** A prng whose int() is always 0: a crash keeps none of the unsynced writes. */
function losesAll(): Prng {
  const p = new Prng(1);
  p.int = () => 0;
  return p;
}

Deno.test("Disk.crash loses writes that were not synced", () => {
  const d = new Disk();
  d.write({ entries: [ent(1, 1), ent(2, 1)], hardState: { term: 1, vote: "n1", commit: 0 } });
  d.sync();
  d.write({ entries: [ent(3, 1)], hardState: { term: 2, vote: "n2", commit: 2 } });
  assert.equal(lastIndexOf(d.written), 3);
  d.crash(losesAll());
  assert.equal(lastIndexOf(d.durable), 2);
  assert.equal(lastIndexOf(d.written), 2);
  assert.deepEqual(d.durable.hardState, { term: 1, vote: "n1", commit: 0 });
  const init = d.initialState({ voters: ["n1"], learners: [] });
  assert.equal(init.entries.length, 2);
});

Deno.test("Disk.write replaces the log's suffix from the first new entry and reports it", () => {
  const d = new Disk();
  d.write({ entries: [ent(1, 1), ent(2, 1), ent(3, 1)] });
  const removed = d.write({ entries: [ent(2, 2)] });
  assert.deepEqual(removed.map((e) => `${e.index}/${e.term}`), ["2/1", "3/1"]);
  assert.equal(termAt(d.written, 2), 2);
  assert.equal(lastIndexOf(d.written), 2);
});

Deno.test("Disk.write refuses entries that would leave a gap", () => {
  const d = new Disk();
  d.write({ entries: [ent(1, 1)] });
  assert.throws(() => d.write({ entries: [ent(3, 1)] }), /entries start at 3/);
});

Deno.test("Disk keeps the log after a snapshot only when it matches the snapshot (§7)", () => {
  const d = new Disk();
  d.write({ entries: [ent(1, 1), ent(2, 1), ent(3, 1)] });
  d.write({ snapshot: snap(2, 1), entries: [] });
  assert.equal(lastIndexOf(d.written), 3);
  d.write({ entries: [ent(4, 1), ent(5, 1)] });
  const removed = d.write({ snapshot: snap(4, 2), entries: [] });
  assert.deepEqual(removed.map((e) => e.index), [5]);
  assert.equal(lastIndexOf(d.written), 4);
  assert.equal(d.written.entries.length, 0);
});

Deno.test("Disk.saveSnapshot drops the covered log from both layers at once", () => {
  const d = new Disk();
  d.write({ entries: [ent(1, 1), ent(2, 1), ent(3, 1)] });
  d.sync();
  d.saveSnapshot(snap(2, 1));
  assert.equal(d.durable.snapshot?.meta.index, 2);
  assert.deepEqual(d.durable.entries.map((e) => e.index), [3]);
  assert.deepEqual(d.written.entries.map((e) => e.index), [3]);
  assert.throws(() => d.saveSnapshot(snap(3, 9)), /does not hold it/);
});
