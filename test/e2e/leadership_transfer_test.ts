/**
 * `POST /v1/cluster/leadership-transfer` with `"wait": true` on three real nodes: it answers 200
 * once another node leads, and 409 `conflict` when the leader abandoned the transfer (its target
 * did not take over within an election timeout: here the leader's link to it is cut with the
 * `--test-faults` seam); asked again once the link is back, the transfer succeeds.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Nodes } from "./nodes.ts";
import { assertProblem, assertStatus, call, eventually } from "./http.ts";

Deno.test("e2e leadership transfer with wait: moved (200), abandoned (409), asked again", async () => {
  const nodes = await Nodes.start({ count: 3, storage: "memory", testFaults: true });
  try {
    const leader = await nodes.waitLeader();
    const target = nodes.ids.find((id) => id !== leader)!;
    const transfer = (from: string) =>
      call(nodes.url(from), "POST", "/v1/cluster/leadership-transfer", {
        body: { to: target, wait: true },
        timeoutMs: 20_000,
      });
    const cut = await call(nodes.url(leader), "PUT", "/v1/admin/faults", {
      body: { peer: target, direction: "out", cut: true },
    });
    assertStatus(cut, 200);
    const abandoned = assertProblem(await transfer(leader), 409, "conflict");
    assert.match(abandoned.detail, /abandoned/);
    assertStatus(await call(nodes.url(leader), "DELETE", "/v1/admin/faults"), 200);
    assert.equal(await nodes.waitLeader(), leader, "the leader went on leading");
    // Asked through another follower: it forwards to the leader, which answers the outcome.
    const other = nodes.ids.find((id) => id !== leader && id !== target)!;
    const moved = await transfer(other);
    assertStatus(moved, 200);
    // Normally the target; another node only if the target's election failed.
    assert.notEqual(moved.body.leaderId, leader, moved.text);
    assert.ok(moved.body.leaderId, moved.text);
    await eventually("every node to follow a new leader", async () => {
      const id = await nodes.waitLeader(5_000);
      return id !== leader ? id : undefined;
    });
  } finally {
    await nodes.stop();
  }
});
