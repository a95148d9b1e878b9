/**
 * Idle long polls make no Raft entry, with real processes (docs/http.md, receive and long poll):
 * receives with `waitMs` on an empty queue, sent to the leader and to a follower (which forwards
 * them to the leader), leave every node's applied index where it was; a message published while
 * a receive waits through a follower is delivered to it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Nodes } from "./nodes.ts";
import { assertStatus, call, eventually } from "./http.ts";

/** A node's applied Raft index, from its `/metrics`. */
async function appliedIndex(base: string): Promise<number> {
  const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const m = (await res.text()).match(/^quorumq_raft_applied_index\{[^}]*\} (\d+)/m);
  assert.ok(m !== null, "the metrics show the applied index");
  return Number(m[1]);
}

Deno.test("e2e long poll: idle receives through the leader and a follower make no entry", async () => {
  const nodes = await Nodes.start({ count: 3, storage: "memory" });
  try {
    const leaderId = await nodes.waitLeader();
    const leader = nodes.url(leaderId);
    const follower = nodes.urls().find((u) => u !== leader)!;
    assertStatus(await call(leader, "PUT", "/v1/queues/idle"), 201);
    assertStatus(await call(leader, "PUT", "/v1/topics/t"), 201);
    assertStatus(await call(leader, "PUT", "/v1/topics/t/subscriptions/s"), 201);
    // Taken once every node has applied the same entries and the count stands still for a
    // second (a new cluster makes a few entries of its own in its first seconds).
    let last: number[] = [];
    const before = await eventually(
      "the applied indexes settle",
      async () => {
        const indexes = await Promise.all(nodes.urls().map(appliedIndex));
        const settled = indexes.every((i) => i === indexes[0]) && indexes[0] === last[0];
        last = indexes;
        return settled ? indexes : undefined;
      },
      30_000,
      1_000,
    );
    const polls = [];
    for (const base of [leader, follower]) {
      for (let i = 0; i < 5; i++) {
        polls.push(call(base, "POST", "/v1/queues/idle/receive", { body: { waitMs: 300 } }));
        polls.push(
          call(base, "POST", "/v1/topics/t/subscriptions/s/receive", { body: { waitMs: 300 } }),
        );
      }
    }
    for (const got of await Promise.all(polls)) {
      assertStatus(got, 200);
      assert.deepEqual(got.body, { messages: [] });
    }
    const after = await Promise.all(nodes.urls().map(appliedIndex));
    assert.deepEqual(after, before, "no node applied an entry for the idle receives");
    // A message published while a receive waits (through the follower) reaches it.
    const pending = call(follower, "POST", "/v1/queues/idle/receive", {
      body: { waitMs: 20_000 },
      timeoutMs: 30_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assertStatus(
      await call(leader, "POST", "/v1/queues/idle/messages", { body: { body: "x" } }),
      201,
    );
    const got = await pending;
    assertStatus(got, 200);
    assert.deepEqual(got.body.messages.map((m: { body: unknown }) => m.body), ["x"]);
    // Missing: 404 at once through either node, as before.
    for (const base of [leader, follower]) {
      const missing = await call(base, "POST", "/v1/queues/nope/receive", {
        body: { waitMs: 20_000 },
      });
      assertStatus(missing, 404);
    }
  } finally {
    await nodes.stop();
  }
});
