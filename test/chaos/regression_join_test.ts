/**
 * Regression tests for bugs the chaos suite found (test/chaos/FINDINGS.md).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Nodes, sleep } from "../e2e/nodes.ts";

Deno.test({
  name: "a joined node sees every voter, not only the changes it replayed from the log (F1)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const nodes = await Nodes.start({ count: 3 });
    try {
      nodes.addId("n4");
      nodes.spawn("n4");
      const res = await fetch(`${nodes.url("n1")}/v1/cluster/members`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: "n4", url: nodes.url("n4") }),
        signal: AbortSignal.timeout(30_000),
      });
      assert.equal(res.status, 200, await res.text());
      let voters: string[] = [];
      for (let i = 0; i < 50; i++) {
        const view = await nodes.cluster("n4").catch(() => undefined);
        voters = (view?.members ?? []).filter((m: { role: string }) => m.role !== "learner")
          .map((m: { id: string }) => m.id).sort();
        if (voters.length === 4) break;
        await sleep(100);
      }
      // With the bug n4 replays the log from index 1 on an empty bootstrap configuration, so it
      // believes it is the only voter and elects itself alone (two leaders in one term).
      assert.deepEqual(voters, ["n1", "n2", "n3", "n4"]);

      // A retried add (its first answer lost, as the chaos nemesis saw) succeeds again; the same
      // id at another URL is refused.
      const add = (url: string) =>
        fetch(`${nodes.url("n2")}/v1/cluster/members`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ id: "n4", url }),
          signal: AbortSignal.timeout(30_000),
        });
      const again = await add(nodes.url("n4"));
      assert.equal(again.status, 200, await again.text());
      const moved = await add("http://127.0.0.1:1");
      assert.equal(moved.status, 409, await moved.text());
    } finally {
      await nodes.stop();
    }
  },
});
