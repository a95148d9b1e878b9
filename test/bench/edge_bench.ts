/**
 * The edge gateway (docs/edge.md) against the leader itself, on loopback, in one run: three real
 * nodes (fsync on), a gateway in Deno and one in `workerd` in front of them, and for each target
 * in turn (the order rotates per run) over HTTP keep-alive:
 * - sequential publish: one 256-byte message at a time, p50 latency;
 * - 64 clients: 64 lanes publishing one message per request, messages per second.
 * Medians of `--runs`; what each gateway adds to p50 and what share of throughput it costs
 * (targets: at most +0.3 ms and 20%). Prints the 1-minute load average before and after.
 *
 * Usage: deno run -A test/bench/edge_bench.ts [--runs 3] [--sequential 2000] [--messages 10000]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes } from "../e2e/nodes.ts";
import { type RunningEdge, startEdge } from "../../src/edge_targets/run.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    sequential: { type: "string", default: "2000" },
    messages: { type: "string", default: "10000" },
  },
});
const RUNS = Number(values.runs);
const BODY = JSON.stringify({ body: "x".repeat(256) });
const LANES = 64;

async function publish(url: string, queue: string): Promise<void> {
  const res = await fetch(`${url}/v1/queues/${queue}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: BODY,
  });
  const text = await res.text();
  if (res.status !== 201) {
    throw new Error(`publish via ${url}: ${res.status} ${text.slice(0, 500)}`);
  }
}

async function sequentialP50(url: string, queue: string, count: number): Promise<number> {
  for (let i = 0; i < 200; i++) await publish(url, queue);
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = performance.now();
    await publish(url, queue);
    times.push(performance.now() - s);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function throughput(url: string, queue: string, count: number): Promise<number> {
  const lanes = async (n: number) => {
    let next = 0;
    await Promise.all(Array.from({ length: LANES }, async () => {
      while (next < n) {
        next++;
        await publish(url, queue);
      }
    }));
  };
  await lanes(1000);
  const t0 = performance.now();
  await lanes(count);
  return count / (performance.now() - t0) * 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");

console.error(`load average before: ${load()}`);
const nodes = await Nodes.start({ count: 3, storage: "fsync", keepLogs: false });
const edges: RunningEdge[] = [];
try {
  for (const runtime of ["deno", "workerd"] as const) {
    edges.push(
      await startEdge({ runtime, upstream: nodes.urls(), listen: "127.0.0.1:0", output: "null" }),
    );
  }
  const leader = nodes.url(await nodes.waitLeader());
  const targets: [string, string][] = [
    ["leader", leader],
    ["edge deno", edges[0].url],
    ["edge workerd", edges[1].url],
  ];
  const p50: Record<string, number[]> = {};
  const rate: Record<string, number[]> = {};
  for (let run = 0; run < RUNS; run++) {
    const order = targets.map((_, k) => targets[(k + run) % targets.length]);
    for (const [name, url] of order) {
      const q = `edge-${name.replace(" ", "-")}-${run}`;
      const put = await fetch(`${leader}/v1/queues/${q}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      await put.body?.cancel();
      if (put.status !== 201) throw new Error(`create ${q}: ${put.status}`);
      (p50[name] ??= []).push(await sequentialP50(url, q, Number(values.sequential)));
      (rate[name] ??= []).push(await throughput(url, q, Number(values.messages)));
      console.error(
        `run ${run + 1} ${name}: p50 ${p50[name].at(-1)!.toFixed(3)} ms, ` +
          `64 clients ${rate[name].at(-1)!.toFixed(0)}/s`,
      );
    }
  }
  const base = { p50: median(p50.leader), rate: median(rate.leader) };
  console.log(`| target | publish p50 ms | added p50 ms | 64 clients msgs/s | throughput cost |`);
  console.log(`| --- | --- | --- | --- | --- |`);
  for (const [name] of targets) {
    const m = { p50: median(p50[name]), rate: median(rate[name]) };
    const added = m.p50 - base.p50;
    const cost = 1 - m.rate / base.rate;
    const verdict = name === "leader"
      ? ""
      : added <= 0.3 && cost <= 0.2
      ? " (targets met)"
      : " (targets NOT met: +0.3 ms, 20%)";
    console.log(
      `| ${name} | ${m.p50.toFixed(3)} | ${name === "leader" ? "-" : added.toFixed(3)} | ` +
        `${m.rate.toFixed(0)} | ${
          name === "leader" ? "-" : `${(cost * 100).toFixed(1)}%`
        }${verdict} |`,
    );
  }
} finally {
  for (const e of edges) await e.stop();
  await nodes.stop();
  console.error(`load average after: ${load()}`);
}
