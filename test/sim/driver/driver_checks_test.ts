import assert from "node:assert/strict";
import { ConfHistory, DriverChecker } from "./driver_checks.ts";
import { type ConfState, EntryKind, type Snapshot } from "../../../cluster/raft/mod.ts";

/** The ConfHistory check of the driver simulation on hand-made histories. */
const snap = (index: number, conf: ConfState): Snapshot => ({
  meta: { index, term: 1, conf },
  data: new Uint8Array(),
});

Deno.test("ConfHistory flags a snapshot whose membership is not the one at its index", () => {
  const h = new ConfHistory();
  const c = new DriverChecker();
  const node = {
    id: "f",
    incarnation: 1,
    disk: { durable: { snap: undefined }, written: { snap: undefined } },
  };
  h.onStart(node);
  h.onEvent(node, "membership_changed", { index: 1, op: "add_learner", nodeId: "a" });
  h.onEvent(node, "membership_changed", { index: 2, op: "promote", nodeId: "a" });
  h.onEvent(node, "membership_changed", { index: 6, op: "add_learner", nodeId: "x" });
  h.onSnapshotSave(node, 6, snap(6, { voters: ["a"], learners: ["x"] }), c);
  h.onSnapshotSave(node, 6, snap(5, { voters: ["a"], learners: [] }), c);
  assert.equal(c.violations.length, 0, JSON.stringify(c.violations));
  // The membership of a later index (x promoted at 8) in a snapshot at 6: the driver bug of
  // FINDINGS.md #4.
  h.onSnapshotSave(node, 6, snap(6, { voters: ["a", "x"], learners: [] }), c);
  assert.equal(c.violations.length, 1);
  assert.equal(c.violations[0].invariant, "snapshot_conf");
  // A leader's snapshot beyond what this node applied is not judged here.
  h.onSnapshotSave(node, 6, snap(10, { voters: ["a", "x"], learners: [] }), c);
  assert.equal(c.violations.length, 1);
});

Deno.test("acked_entries_lost: a later leader's entries on disk before its term (crash between a Ready's writes) are no loss", () => {
  const entry = (index: number, term: number) => ({
    index,
    term,
    kind: EntryKind.Normal,
    data: new Uint8Array(),
  });
  const ack = {
    clusterId: "c",
    type: "append_resp",
    from: "n4",
    to: "n2",
    term: 31,
    logTerm: 0,
    index: 186,
    commit: 0,
  } as const;
  const image = (lastTerm: number) => ({
    first: 183,
    entries: [entry(183, 31), entry(184, lastTerm)],
    hard: { term: 31, vote: "", commit: 156 },
    snap: undefined,
  });
  // Seed 9655 (5 nodes, 1000 steps, --driver --app broker): n4 acknowledged 186 in term 31; the
  // leader of term 32 replaced 184..186 with its 184; the crash came after that write and
  // before the hard state's (term 32).
  const c = new DriverChecker();
  c.noteAck("n4", ack);
  c.onCrash("n4", image(32));
  assert.equal(c.violations.length, 0, JSON.stringify(c.violations));
  // The same disk without a later term: the acknowledged entries are lost.
  c.noteAck("n4", ack);
  c.onCrash("n4", image(31));
  assert.deepEqual(c.violations.map((v) => v.invariant), ["acked_entries_lost"]);
});
