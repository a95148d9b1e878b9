import assert from "node:assert/strict";
import { ConfHistory, DriverChecker } from "./driver_checks.ts";
import type { ConfState, Snapshot } from "../../../cluster/raft/mod.ts";

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
