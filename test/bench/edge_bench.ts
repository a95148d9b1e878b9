/**
 * The edge gateway (docs/edge.md) against the leader itself, on loopback, in one run: three real
 * nodes (fsync on, or `--storage memory`), a gateway in Deno and one in `workerd` in front of them, and over HTTP
 * keep-alive:
 * - sequential publish: one 256-byte message at a time, p50 latency;
 * - 64 clients: 64 lanes publishing one message per request, messages per second;
 * - CPU per publish of the leader and of the gateway process (Linux `/proc`), during the 64
 *   clients: the figure a shared, noisy machine disturbs least.
 * The targets are interleaved, so that a machine whose load drifts meanwhile (a shared one)
 * weighs on all of them alike: sequential publishes go round the targets in blocks of 100, and
 * the 64 clients run in `ROUNDS` short rounds per target, the order rotating. Medians of `--runs`;
 * what each gateway adds to p50 and what share of throughput it costs (targets: at most +0.3 ms
 * and 20%). Prints the 1-minute load average before and after.
 *
 * Usage: deno run -A test/bench/edge_bench.ts [--runs 3] [--sequential 2000] [--messages 10000]
 *   [--storage fsync|memory]
 *
 * `--storage memory` takes the disk's flushes out of every publish (the gateways' share of p50 is
 * then measured against a steadier leader); the default is fsync, as the nodes run.
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
    storage: { type: "string", default: "fsync" },
  },
});
const RUNS = Number(values.runs);
const BODY = JSON.stringify({ body: "x".repeat(256) });
const LANES = 64;

/** A target of one run: where to publish, to which queue, and its gateway process. */
interface Target {
  readonly url: string;
  readonly queue: string;
  readonly pid: number | undefined;
}

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

/** Rounds of the 64 clients per target and run (interleaved with the other targets'). */
const ROUNDS = 5;

/**
 * Sequential publishes go to one target at a time for this many before the next takes its turn:
 * interleaved, but not one by one (a process left idle while two others answer is woken cold,
 * which no steady client sees).
 */
const SEQUENTIAL_BLOCK = 100;

/** p50 of sequential publishes, in blocks to each target in turn (the order rotating). */
async function sequentialP50(targets: Target[], count: number): Promise<number[]> {
  for (const t of targets) for (let i = 0; i < 200; i++) await publish(t.url, t.queue);
  const times: number[][] = targets.map(() => []);
  for (let block = 0; block * SEQUENTIAL_BLOCK < count; block++) {
    for (let k = 0; k < targets.length; k++) {
      const at = (k + block) % targets.length;
      for (let i = 0; i < SEQUENTIAL_BLOCK; i++) {
        const s = performance.now();
        await publish(targets[at].url, targets[at].queue);
        times[at].push(performance.now() - s);
      }
    }
  }
  return times.map((xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]);
}

/** CPU time (user + system, ms) a process has used so far; NaN where `/proc` is not there. */
function cpuMs(pid: number | undefined): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10; // clock ticks of 10 ms
  } catch {
    return NaN;
  }
}

/**
 * Messages per second with 64 clients, and CPU ms per publish of the leader and the gateway:
 * `ROUNDS` rounds of `count / ROUNDS` messages per target, the targets taking turns.
 */
async function throughput(
  targets: Target[],
  count: number,
  leaderPid: number | undefined,
): Promise<{ rate: number; leaderCpu: number; gatewayCpu: number }[]> {
  const lanes = async (t: Target, n: number) => {
    let next = 0;
    await Promise.all(Array.from({ length: LANES }, async () => {
      while (next < n) {
        next++;
        await publish(t.url, t.queue);
      }
    }));
  };
  for (const t of targets) await lanes(t, 1000);
  const per = Math.ceil(count / ROUNDS);
  const spent = targets.map(() => ({ ms: 0, leader: 0, gateway: 0 }));
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < targets.length; k++) {
      const at = (k + round) % targets.length;
      const t = targets[at];
      const [l0, g0, t0] = [cpuMs(leaderPid), cpuMs(t.pid), performance.now()];
      await lanes(t, per);
      spent[at].ms += performance.now() - t0;
      spent[at].leader += cpuMs(leaderPid) - l0;
      spent[at].gateway += cpuMs(t.pid) - g0;
    }
  }
  const total = per * ROUNDS;
  return spent.map((s) => ({
    rate: total / s.ms * 1000,
    leaderCpu: s.leader / total,
    gatewayCpu: s.gateway / total,
  }));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");

console.error(`load average before: ${load()}`);
if (values.storage !== "fsync" && values.storage !== "memory") {
  throw new Error(`--storage must be fsync or memory, not ${values.storage}`);
}
const nodes = await Nodes.start({ count: 3, storage: values.storage, keepLogs: false });
const edges: RunningEdge[] = [];
try {
  // The Worker twice: its default (the isolate-hosted stream) and with every call sent to the
  // Durable Object (QUORUMQ_EDGE_HOST_MS=0: docs/edge.md).
  const variants = [
    { runtime: "deno" },
    { runtime: "workerd" },
    { runtime: "workerd", hostMs: 0 },
  ] as const;
  for (const v of variants) {
    edges.push(
      await startEdge({ ...v, upstream: nodes.urls(), listen: "127.0.0.1:0", output: "null" }),
    );
  }
  const leaderId = await nodes.waitLeader();
  const leader = nodes.url(leaderId);
  const targets: { name: string; url: string; pid: number | undefined }[] = [
    { name: "leader", url: leader, pid: undefined },
    { name: "edge deno", url: edges[0].url, pid: edges[0].child.pid },
    { name: "edge workerd", url: edges[1].url, pid: edges[1].child.pid },
    { name: "edge workerd object", url: edges[2].url, pid: edges[2].child.pid },
  ];
  const p50: number[][] = targets.map(() => []);
  const rate: number[][] = targets.map(() => []);
  const leaderCpu: number[][] = targets.map(() => []);
  const gatewayCpu: number[][] = targets.map(() => []);
  for (let run = 0; run < RUNS; run++) {
    const round: Target[] = [];
    for (const t of targets) {
      const queue = `edge-${t.name.replaceAll(" ", "-")}-${run}`;
      const put = await fetch(`${leader}/v1/queues/${queue}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      await put.body?.cancel();
      if (put.status !== 201) throw new Error(`create ${queue}: ${put.status}`);
      round.push({ url: t.url, queue, pid: t.pid });
    }
    const latencies = await sequentialP50(round, Number(values.sequential));
    const rates = await throughput(round, Number(values.messages), nodes.pid(leaderId));
    targets.forEach((t, k) => {
      p50[k].push(latencies[k]);
      rate[k].push(rates[k].rate);
      leaderCpu[k].push(rates[k].leaderCpu);
      gatewayCpu[k].push(rates[k].gatewayCpu);
      console.error(
        `run ${run + 1} ${t.name}: p50 ${latencies[k].toFixed(3)} ms, ` +
          `64 clients ${rates[k].rate.toFixed(0)}/s, CPU ms per publish: leader ` +
          `${rates[k].leaderCpu.toFixed(3)}, gateway ${rates[k].gatewayCpu.toFixed(3)}`,
      );
    });
  }
  const base = { p50: median(p50[0]), rate: median(rate[0]) };
  console.log(
    `| target | publish p50 ms | added p50 ms | 64 clients msgs/s | throughput cost | ` +
      `CPU ms/publish: leader, gateway |`,
  );
  console.log(`| --- | --- | --- | --- | --- | --- |`);
  targets.forEach((t, k) => {
    const m = { p50: median(p50[k]), rate: median(rate[k]) };
    const added = m.p50 - base.p50;
    const cost = 1 - m.rate / base.rate;
    const isLeader = k === 0;
    const verdict = isLeader
      ? ""
      : added <= 0.3 && cost <= 0.2
      ? " (targets met)"
      : " (targets NOT met: +0.3 ms, 20%)";
    const cpu = `${median(leaderCpu[k]).toFixed(3)}, ${
      isLeader ? "-" : median(gatewayCpu[k]).toFixed(3)
    }`;
    console.log(
      `| ${t.name} | ${m.p50.toFixed(3)} | ${isLeader ? "-" : added.toFixed(3)} | ` +
        `${m.rate.toFixed(0)} | ${isLeader ? "-" : `${(cost * 100).toFixed(1)}%`}${verdict} | ` +
        `${cpu} |`,
    );
  });
} finally {
  for (const e of edges) await e.stop();
  await nodes.stop();
  console.error(`load average after: ${load()}`);
}
