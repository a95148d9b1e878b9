/**
 * A stream's large batch of publishes on a real node: taken a slice at a time
 * (src/http/stream_intake.ts), so its proposals are more than one Raft entry (the first goes to
 * the log and the followers while the leader reads the rest), and every publish is answered.
 *
 * @module
 */

import assert from "node:assert/strict";
import { StreamConnection } from "../../src/client/mod.ts";
import { INTAKE_SLICE_FRAMES } from "../../src/http/mod.ts";
import { Nodes, proposalCounts } from "./nodes.ts";

Deno.test("a stream's batch of more than a slice of publishes is more than one entry", async () => {
  const nodes = await Nodes.start({ count: 1, storage: "memory", keepLogs: false });
  try {
    const url = nodes.url(await nodes.waitLeader());
    const stream = await StreamConnection.open(url);
    try {
      await stream.request("PUT", "/v1/queues/q", {}, "{}");
      const n = INTAKE_SLICE_FRAMES + INTAKE_SLICE_FRAMES / 2;
      const before = await proposalCounts(url);
      // One turn: the client sends the n frames as one message.
      const answers = await Promise.all(
        Array.from(
          { length: n },
          (_, i) => stream.call("POST", "/v1/queues/q/messages", {}, JSON.stringify({ body: i })),
        ),
      );
      assert.deepEqual(answers.map((a) => a.status), answers.map(() => 201));
      const after = await proposalCounts(url);
      assert.ok(after.proposals - before.proposals >= n);
      // Taken whole in one step, the n proposals were one entry (n is within BATCH_BOUNDS).
      assert.ok(after.entries - before.entries >= 2, `${after.entries - before.entries} entries`);
    } finally {
      await stream.close();
    }
  } finally {
    await nodes.stop();
  }
});
