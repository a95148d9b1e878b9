/**
 * What a node's replication work costs the requests served by a follower: three real nodes
 * (fsync on, V8's defaults), the project's client publishing to the leader with `--inflight` in
 * flight (the load), and a probe that POSTs one publish at a time over HTTP to a follower (which
 * forwards it to the leader), timing each. A follower's own log writes and fsyncs run between
 * the probe's requests; this prints the probe's p50/p90/p99 and the load's rate per run.
 * `--beside <node entry>` starts a second cluster on another checkout and alternates the runs.
 *
 * Usage: deno run -A test/bench/follower_probe_bench.ts [--runs 4] [--seconds 6] [--inflight 64]
 *   [--warmup 8] [--beside <dir>/src/main.ts]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes } from "../e2e/nodes.ts";
import { Client } from "../../src/client/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "4" },
    seconds: { type: "string", default: "6" },
    inflight: { type: "string", default: "64" },
    warmup: { type: "string", default: "8" },
    beside: { type: "string" },
  },
});
const BODY = "x".repeat(256);

interface Cluster {
  readonly name: string;
  readonly nodes: Nodes;
  readonly client: Client;
  readonly followerUrl: string;
  readonly p: { p50: number[]; p90: number[]; p99: number[] };
}

async function start(name: string, main: string): Promise<Cluster> {
  const nodes = await Nodes.start({
    count: 3,
    storage: "fsync",
    keepLogs: false,
    main,
    v8Flags: "",
  });
  const leader = await nodes.waitLeader();
  const client = new Client({ nodes: [nodes.url(leader)] });
  await client.createQueue("load");
  await client.createQueue("probe");
  const follower = nodes.ids.find((id) => id !== leader)!;
  return {
    name,
    nodes,
    client,
    followerUrl: nodes.url(follower),
    p: { p50: [], p90: [], p99: [] },
  };
}

async function load(c: Cluster, tag: string, ms: number): Promise<number> {
  const end = performance.now() + ms;
  let n = 0;
  await Promise.all(Array.from({ length: Number(values.inflight) }, async () => {
    while (performance.now() < end) {
      await c.client.publish("load", { id: `${tag}-${n++}`, body: BODY });
    }
  }));
  return n;
}

async function probe(c: Cluster, tag: string, ms: number): Promise<number[]> {
  const end = performance.now() + ms;
  const times: number[] = [];
  for (let i = 0; i < 1_000_000 && performance.now() < end; i++) {
    const t0 = performance.now();
    const res = await fetch(`${c.followerUrl}/v1/queues/probe/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: `${tag}-${i}`, body: BODY }),
    });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`probe publish answered ${res.status}`);
    times.push(performance.now() - t0);
  }
  return times;
}

const at = (s: number[], q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];

async function run(c: Cluster, r: number, seconds = Number(values.seconds)): Promise<void> {
  const ms = seconds * 1000;
  const [n, times] = await Promise.all([load(c, `r${r}`, ms), probe(c, `r${r}`, ms)]);
  times.sort((a, b) => a - b);
  const [p50, p90, p99] = [at(times, 0.5), at(times, 0.9), at(times, 0.99)];
  c.p.p50.push(p50);
  c.p.p90.push(p90);
  c.p.p99.push(p99);
  console.log(
    `${c.name} run ${r + 1}: load ${(n / seconds).toFixed(0)} msgs/s; probe ` +
      `${times.length} via a follower, p50 ${p50.toFixed(2)} p90 ${p90.toFixed(2)} p99 ` +
      `${p99.toFixed(2)} ms; load average ${Deno.loadavg()[0].toFixed(1)}`,
  );
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const clusters = [await start("this", new URL("../../src/main.ts", import.meta.url).pathname)];
try {
  if (values.beside !== undefined) clusters.push(await start("beside", values.beside));
  for (const c of clusters) await run(c, -1, Number(values.warmup)); // warm-up, not kept
  for (const c of clusters) c.p.p50.length = c.p.p90.length = c.p.p99.length = 0;
  for (let r = 0; r < Number(values.runs); r++) {
    for (const c of r % 2 === 0 ? clusters : [...clusters].reverse()) await run(c, r);
  }
  for (const c of clusters) {
    const { p50, p90, p99 } = c.p;
    console.log(
      `${c.name}: medians of ${p50.length} runs: probe p50 ${median(p50).toFixed(2)} p90 ` +
        `${median(p90).toFixed(2)} p99 ${median(p99).toFixed(2)} ms`,
    );
  }
} finally {
  for (const c of clusters) {
    await c.client.close();
    await c.nodes.stop();
  }
}
