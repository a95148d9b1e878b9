import assert from "node:assert/strict";
import type { Entry } from "../../../cluster/raft/mod.ts";
import { HashChainApp } from "../app.ts";
import { Disk } from "../disk.ts";
import { Checker } from "./invariants.ts";
import type { SimNode } from "./sim_node.ts";

const enc = new TextEncoder();

function ent(index: number, term: number, text = `e${index}`): Entry {
  return { index, term, kind: 0, data: enc.encode(text) };
}

/** Just the parts of a node the checker reads. */
function fakeNode(id: string): SimNode {
  return { id, app: new HashChainApp(), disk: new Disk(), startCommit: 0 } as unknown as SimNode;
}

function applyOn(c: Checker, n: SimNode, e: Entry, term = e.term): void {
  n.app.apply(e);
  c.onApply(n, e, term);
}

Deno.test("Checker flags two leaders in one term (election safety)", () => {
  const c = new Checker();
  c.observeLeader(3, "n1");
  c.observeLeader(3, "n1");
  assert.equal(c.violations.length, 0);
  c.observeLeader(3, "n2");
  assert.equal(c.violations[0]?.invariant, "election_safety");
});

Deno.test("Checker flags different entries applied at one index (state machine safety)", () => {
  const c = new Checker();
  const a = fakeNode("n1");
  const b = fakeNode("n2");
  applyOn(c, a, ent(1, 1));
  applyOn(c, b, ent(1, 1));
  assert.equal(c.violations.length, 0);
  applyOn(c, a, ent(2, 1, "x"));
  applyOn(c, b, ent(2, 2, "y"));
  assert.equal(c.violations[0]?.invariant, "state_machine_safety");
});

Deno.test("Checker flags a commit index that moves back", () => {
  const c = new Checker();
  const a = fakeNode("n1");
  c.observeCommit(a, 5, 1);
  c.observeCommit(a, 4, 1);
  assert.equal(c.violations[0]?.invariant, "commit_monotonic");
});

Deno.test("Checker flags a leader that removes an entry of its own term (append-only)", () => {
  const c = new Checker();
  const a = fakeNode("n1");
  c.observeLeader(2, "n1");
  const w1 = { entries: [ent(1, 2)] };
  c.onWrite(a, w1, a.disk.write(w1), 2);
  assert.equal(c.violations.length, 0);
  const w2 = { entries: [ent(1, 1)] };
  c.onWrite(a, w2, a.disk.write(w2), 2);
  assert.equal(c.violations[0]?.invariant, "leader_append_only");
});

Deno.test("Checker flags one index and term with different data (log matching)", () => {
  const c = new Checker();
  const a = fakeNode("n1");
  const b = fakeNode("n2");
  const w1 = { entries: [ent(1, 1, "same"), ent(2, 1, "x")] };
  c.onWrite(a, w1, a.disk.write(w1), 1);
  const w2 = { entries: [ent(1, 1, "same"), ent(2, 1, "y")] };
  c.onWrite(b, w2, b.disk.write(w2), 1);
  assert.equal(c.violations[0]?.invariant, "log_matching");
});

Deno.test("Checker flags a leader elected without a committed entry (leader completeness)", () => {
  const c = new Checker();
  const a = fakeNode("n1");
  const b = fakeNode("n2");
  // Index 1 of term 1 is committed (applied on n1) while n1 is in term 1.
  applyOn(c, a, ent(1, 1), 1);
  // n2 becomes leader of term 3 with a log lacking it and writes its no-op at index 1.
  c.observeLeader(3, "n2");
  const w = { entries: [ent(1, 3, "")] };
  c.onWrite(b, w, b.disk.write(w), 3);
  assert.equal(c.violations[0]?.invariant, "leader_completeness");
});

Deno.test("Checker flags a synced commit beyond the durable log", () => {
  const c = new Checker();
  const a = fakeNode("n1");
  a.disk.write({ entries: [ent(1, 1)], hardState: { term: 1, vote: "", commit: 2 } });
  a.disk.sync();
  c.onSync(a);
  assert.equal(c.violations[0]?.invariant, "durable_commit");
});

Deno.test("Checker flags a follower that truncates entries of its current term", () => {
  const c = new Checker();
  const b = fakeNode("n2");
  c.observeLeader(2, "n1");
  const w1 = { entries: [ent(1, 2), ent(2, 2)] };
  c.onWrite(b, w1, b.disk.write(w1), 2);
  // A stale append (prev 0, one entry) must not cut entry 2 of the same term.
  const w2 = { entries: [ent(1, 2, "other")] };
  c.onWrite(b, w2, b.disk.write(w2), 2);
  assert.equal(c.violations[0]?.invariant, "no_truncation_in_term");
});
