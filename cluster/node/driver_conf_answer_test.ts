/**
 * A membership change is answered only once the Raft core counts it applied. The apply worker
 * applies committed entries while a Ready's persist runs, before the core's `advance()`; a change
 * answered then left the core's pending change in place, so the next change an operator sent on
 * that answer (add a learner, then promote it) was refused `conf_change_pending`.
 */
import assert from "node:assert/strict";
import { enc, FileCluster } from "./_testing_cluster.ts";

Deno.test("the next membership change proposed on a change's answer is never refused as pending", async () => {
  const c = await FileCluster.start(["a", "b", "c"], 1000);
  try {
    const leader = await c.leader();
    const first = leader.propose(enc("x"), 5_000);
    for (let i = 0; i < 2_000 && !(await settledWithin(first)); i++) await c.ticks(1);
    assert.ok((await first).ok);
    for (const id of ["d", "e", "f", "g", "h"]) {
      const added = leader.proposeConfChange({ op: "add_learner", nodeId: id }, 5_000);
      for (let i = 0; i < 2_000 && !(await settledWithin(added)); i++) await c.ticks(1);
      assert.ok((await added).ok, `add_learner ${id}: ${JSON.stringify(await added)}`);
      // On the answer, at once: as a client that promotes the learner it just added.
      const next = leader.proposeConfChange({ op: "remove", nodeId: id }, 5_000);
      for (let i = 0; i < 2_000 && !(await settledWithin(next)); i++) await c.ticks(1);
      const out = await next;
      assert.ok(out.ok, `remove ${id} right after its add: ${JSON.stringify(out)}`);
    }
  } finally {
    await c.close();
  }
});

/** True when `p` has settled by the next turn of the event loop. */
async function settledWithin(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => done = true, () => done = true);
  await new Promise((r) => setTimeout(r, 0));
  return done;
}
