/**
 * Node identity with real processes (cluster/node/identity.ts): a follower whose data directory
 * is wiped and that comes back under the same id does not take part: it stops by itself with
 * exit code 2 and says how to remove and re-add it, while writes keep committing on the other
 * two; removed, emptied and started with `--join`, then added, it catches up. The cluster it runs
 * in is a fresh bootstrap (every data directory empty), which must still work.
 *
 * @module
 */

import assert from "node:assert/strict";
import { assertStatus, call, eventually } from "./http.ts";
import { Nodes } from "./nodes.ts";

async function publish(base: string, body: unknown): Promise<void> {
  assertStatus(await call(base, "POST", "/v1/queues/q/messages", { body: { body } }), 201);
}

Deno.test({
  name:
    "e2e identity: a follower back with a wiped data directory stops; removed and re-added with --join it catches up",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const nodes = await Nodes.start({ count: 3 });
    try {
      const leader = await nodes.waitLeader();
      const base = nodes.url(leader);
      // The leader records the three incarnations (identify entries) right after the election.
      await eventually("three incarnations recorded", () => {
        const n = (nodes.logs(leader).match(/"op":"identify"/g) ?? []).length;
        return Promise.resolve(n >= 3 ? n : undefined);
      });
      assertStatus(await call(base, "PUT", "/v1/queues/q", { body: {} }), 201);
      await publish(base, 1);

      const f = nodes.ids.find((id) => id !== leader)!;
      await nodes.kill(f);
      await nodes.wipe(f);
      nodes.spawn(f); // the same id and flags, an empty data directory
      const code = await eventually("the wiped node to stop by itself", () => {
        return Promise.resolve(nodes.exitCode(f));
      }, 30_000);
      assert.equal(code, 2, nodes.logs(f));
      const said = nodes.logs(f);
      assert.match(said, /known to the cluster with another data directory/);
      assert.match(said, new RegExp(`DELETE <member-url>/v1/cluster/members/${f}`));
      assert.match(said, /--join/);
      await nodes.kill(f); // forget the exited process
      // The two others commit on.
      await publish(base, 2);

      assertStatus(await call(base, "DELETE", `/v1/cluster/members/${f}`, { body: {} }), 200);
      await nodes.wipe(f);
      nodes.rejoin(f);
      nodes.spawn(f);
      assertStatus(
        await call(base, "POST", "/v1/cluster/members", {
          body: { id: f, url: nodes.url(f) },
          timeoutMs: 60_000,
        }),
        200,
      );
      await publish(base, 3);
      const leaderView = await nodes.cluster(leader);
      await eventually(`${f} to catch up`, async () => {
        const v = await nodes.cluster(f);
        return v.appliedIndex >= leaderView.commitIndex && v.leaderId === leader ? v : undefined;
      }, 30_000);
      const q = await call(nodes.url(f), "GET", "/v1/queues/q?consistency=stale");
      assertStatus(q, 200);
      assert.equal(q.body.ready, 3, q.text);
      // Its new data directory is recorded: a fourth identify.
      await eventually("the new incarnation recorded", () => {
        const n = (nodes.logs(leader).match(/"op":"identify"/g) ?? []).length;
        return Promise.resolve(n >= 4 ? n : undefined);
      });
      assert.equal(nodes.exitCode(f), undefined, "the re-added node runs on");
    } finally {
      await nodes.stop();
    }
  },
});
