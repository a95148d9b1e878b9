/**
 * FINDINGS.md #2 (fixed in raft 11291eb; this test failed before it): when a follower's
 * in-flight Ready is partly overwritten by a newer leader's append before `advance()`, the
 * persisted prefix is never marked stable; compacting at the applied index then makes the next
 * `ready()` throw (and even without compaction the prefix is written a second time).
 */
import assert from "node:assert/strict";
import { type Entry, type Message, RawNode } from "../../cluster/raft/mod.ts";

const conf = { voters: ["n1", "n2", "n3"], learners: [] };

function ent(index: number, term: number): Entry {
  return { index, term, kind: 0, data: new Uint8Array([index]) };
}

function append(
  from: string,
  term: number,
  prev: [number, number],
  ents: Entry[],
  commit: number,
): Message {
  return {
    type: "append",
    clusterId: "sim",
    from,
    to: "n3",
    term,
    logTerm: prev[1],
    index: prev[0],
    entries: ents,
    commit,
  };
}

Deno.test("RawNode marks the persisted prefix stable when a Ready's tail was overwritten before advance", () => {
  const node = new RawNode(
    { id: "n3", clusterId: "sim", electionTicks: 10, heartbeatTicks: 2, random: () => 0.5 },
    { hardState: { term: 0, vote: "", commit: 0 }, bootstrapConf: conf, entries: [] },
  );
  // Leader n1 of term 1 replicates 1..5 and commits 3.
  node.step(append("n1", 1, [0, 0], [1, 2, 3, 4, 5].map((i) => ent(i, 1)), 3));
  const rd1 = node.ready();
  assert.deepEqual(rd1.entries.map((e) => e.index), [1, 2, 3, 4, 5]);
  // While rd1 is being persisted, leader n2 of term 2 overwrites 4..5 (a legal truncation).
  node.step(append("n2", 2, [3, 1], [ent(4, 2)], 3));
  // The driver persisted rd1 (1..5), applied 1..3, and advances.
  node.advance(rd1);
  assert.equal(node.status().applied, 3);
  // Entries 1..3 of rd1 are durable and still in the log: they must count as stable.
  assert.ok(
    node.status().stableIndex >= 3,
    `stableIndex is ${node.status().stableIndex} after persisting 1..5 of which 1..3 still match`,
  );
  // Compacting at the applied index is allowed by the API; the next Ready must still work.
  node.compact({ meta: { index: 3, term: 1, conf }, data: new Uint8Array() });
  const rd2 = node.ready();
  assert.deepEqual(rd2.entries.map((e) => `${e.index}/${e.term}`), ["4/2"]);
});
