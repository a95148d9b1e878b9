/**
 * Raft-level figures, over three real kv_node processes (fsync on, loopback):
 * - proposals committed per second with 64 in flight (group commit does the batching);
 * - time from SIGKILL of the leader to a new leader committing a write (median of runs).
 *
 * Usage: deno run -A test/bench/cluster_bench.ts [--runs 5] [--proposals 20000]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { KvCluster } from "../cluster/kv_cluster.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "5" },
    proposals: { type: "string", default: "20000" },
  },
});
const runs = Number(values.runs);
const proposals = Number(values.proposals);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function throughput(cluster: KvCluster, leader: string, n: number): Promise<number> {
  const url = cluster.url(leader);
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const res = await fetch(`${url}/put?key=k${i}&value=v${i}`, { method: "POST" });
      await res.body?.cancel();
      if (res.status !== 200) throw new Error(`put ${i} answered ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  return n / ((performance.now() - t0) / 1000);
}

async function failover(cluster: KvCluster): Promise<number> {
  const leader = await cluster.waitLeader();
  const others = cluster.ids.filter((id) => id !== leader);
  const t0 = performance.now();
  cluster.kill(leader);
  // A write through a survivor succeeds only once a new leader commits it.
  for (let i = 0; i < 400; i++) {
    const id = others[i % others.length];
    try {
      const res = await fetch(`${cluster.url(id)}/put?key=failover&value=${i}`, {
        method: "POST",
        signal: AbortSignal.timeout(1000),
      });
      await res.body?.cancel();
      if (res.status === 200) break;
    } catch { /* retry */ }
    await new Promise((r) => setTimeout(r, 10));
  }
  const ms = performance.now() - t0;
  await cluster.restart(leader);
  await cluster.waitLeader();
  return ms;
}

const cluster = await KvCluster.start(3, { snapshotEvery: 10_000 });
try {
  const leader = await cluster.waitLeader();
  await throughput(cluster, leader, 1000); // warm-up
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    rates.push(await throughput(cluster, await cluster.waitLeader(), proposals));
    console.error(`run ${r + 1}/${runs}: ${rates[r].toFixed(0)} proposals/s`);
  }
  const failovers: number[] = [];
  for (let r = 0; r < runs; r++) {
    failovers.push(await failover(cluster));
    console.error(`failover ${r + 1}/${runs}: ${failovers[r].toFixed(0)} ms`);
  }
  console.log(
    `proposals/s (64 in flight, 3 nodes, fsync): median ${median(rates).toFixed(0)} ` +
      `(runs ${rates.map((x) => x.toFixed(0)).join(", ")})`,
  );
  console.log(
    `failover ms (SIGKILL leader → write committed): median ${median(failovers).toFixed(0)} ` +
      `(runs ${failovers.map((x) => x.toFixed(0)).join(", ")})`,
  );
} finally {
  await cluster.stop();
}
