/**
 * Three real `deno` processes on loopback (real files with fsync, real WebSockets): they elect
 * a leader, replicate, keep committing while one of them is SIGKILLed, and the restarted one
 * catches up, by log and by snapshot. Every write the cluster acknowledged must be on every node.
 */

import assert from "node:assert/strict";
import { KvCluster } from "./kv_cluster.ts";

Deno.test({
  name: "three kv nodes survive SIGKILL of the leader and of a follower, and catch up",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cluster = await KvCluster.start(3, { snapshotEvery: 40 });
    try {
      const acked = new Map<string, string>();
      const put = async (key: string) => {
        const value = `v-${key}`;
        await cluster.put(key, value);
        acked.set(key, value);
      };

      const leader1 = await cluster.waitLeader();
      for (let i = 0; i < 60; i++) await put(`a${i}`);

      // Kill the leader mid-traffic: writes keep going to the survivors.
      cluster.kill(leader1);
      const puts: Promise<void>[] = [];
      for (let i = 0; i < 60; i++) puts.push(put(`b${i}`));
      await Promise.all(puts);
      const leader2 = await cluster.waitLeader();
      assert.notEqual(leader2, leader1);

      // The old leader restarts and catches up by log (or snapshot).
      await cluster.restart(leader1);
      await cluster.waitConverged([...acked.keys()]);

      // Kill a follower, write far more than a snapshot interval, restart: it must catch up by
      // an InstallSnapshot, since the leader's log was compacted past what it holds.
      const follower = cluster.ids.find((id) => id !== leader2)!;
      cluster.kill(follower);
      for (let i = 0; i < 150; i++) await put(`c${i}`);
      const st = await cluster.status(leader2);
      assert.ok(st.firstIndex > 100, `leader compacted its log (firstIndex ${st.firstIndex})`);
      await cluster.restart(follower);
      await cluster.waitConverged([...acked.keys()]);
      assert.ok(
        cluster.stderrOf(follower).includes('"snapshot_restored"'),
        "the restarted follower installed a snapshot",
      );

      for (const id of cluster.ids) {
        const dump = await cluster.dump(id);
        for (const [k, v] of acked) assert.equal(dump[k], v, `${id} has acknowledged ${k}`);
      }
    } finally {
      await cluster.stop();
    }
  },
});
