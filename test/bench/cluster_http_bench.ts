/**
 * The broker-level figures of the README's "Measured here", over three real quorumq nodes on loopback
 * with fsync on, through the HTTP API (the client is Deno's `fetch`, in this process):
 * - sequential publish latency (p50, p99) and rate, one request at a time;
 * - batched publish throughput (100 messages per request, 16 requests in flight);
 * - receive + ack throughput (16 consumers, up to 100 messages per receive, one ack per batch);
 * - failover: SIGKILL of the leader until a publish through a survivor succeeds;
 * - start-up over a large log: every node restarted, time until `/readyz` answers 200;
 * - memory: leader RSS per stored message for a large backlog.
 *
 * Usage: deno run -A test/bench/cluster_http_bench.ts [--runs 3] [--backlog 200000]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes, sleep } from "../e2e/nodes.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    backlog: { type: "string", default: "200000" },
  },
});
const RUNS = Number(values.runs);
const BACKLOG = Number(values.backlog);
const BODY = "x".repeat(256);
const JSON_HEADERS = { "content-type": "application/json" };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
};
const fmt = (xs: number[], digits = 0) => xs.map((x) => x.toFixed(digits)).join(", ");
const progress = (text: string) => Deno.stderr.writeSync(new TextEncoder().encode(`\r${text}   `));

async function post(url: string, body: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method: "POST",
    headers: JSON_HEADERS,
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`POST ${url} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

async function createQueue(base: string, q: string): Promise<void> {
  const res = await fetch(`${base}/v1/queues/${q}`, {
    method: "PUT",
    headers: JSON_HEADERS,
    body: "{}",
  });
  await res.body?.cancel();
  if (res.status >= 300) throw new Error(`create ${q}: ${res.status}`);
}

async function sequential(base: string, q: string, n: number) {
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await post(`${base}/v1/queues/${q}/messages`, { id: `s${i}`, body: BODY });
    lat.push(performance.now() - t);
  }
  return { rate: n / ((performance.now() - t0) / 1000), p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
}

async function batched(base: string, q: string, total: number, batch = 100, lanes = 16) {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: lanes }, async () => {
    while (next < total) {
      const start = next;
      next += batch;
      const messages = Array.from(
        { length: batch },
        (_, k) => ({ id: `b${start + k}`, body: BODY }),
      );
      await post(`${base}/v1/queues/${q}/messages`, { messages });
    }
  }));
  return total / ((performance.now() - t0) / 1000);
}

async function consumeAll(base: string, q: string, total: number, lanes = 16) {
  let done = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: lanes }, async () => {
    for (let guard = 0; done < total && guard < 100_000; guard++) {
      const r = await post(`${base}/v1/queues/${q}/receive`, { max: 100, waitMs: 200 }) as {
        messages: { receipt: string }[];
      };
      if (r.messages.length === 0) continue;
      await post(`${base}/v1/queues/${q}/ack`, { receipts: r.messages.map((m) => m.receipt) });
      done += r.messages.length;
    }
  }));
  return done / ((performance.now() - t0) / 1000);
}

async function failover(nodes: Nodes, q: string): Promise<number> {
  const leader = await nodes.waitLeader();
  const others = nodes.ids.filter((id) => id !== leader);
  const t0 = performance.now();
  await nodes.kill(leader);
  for (let i = 0; i < 2000; i++) {
    try {
      const res = await fetch(`${nodes.url(others[i % 2])}/v1/queues/${q}/messages`, {
        method: "POST",
        headers: JSON_HEADERS,
        body: JSON.stringify({ id: `f${Date.now()}-${i}`, body: "f" }),
        signal: AbortSignal.timeout(1000),
      });
      await res.body?.cancel();
      if (res.status === 201) break;
    } catch { /* not yet */ }
    await sleep(10);
  }
  const ms = performance.now() - t0;
  nodes.spawn(leader);
  await nodes.waitLeader();
  return ms;
}

async function restartAll(nodes: Nodes): Promise<number> {
  await Promise.all(nodes.ids.map((id) => nodes.signal(id, "SIGTERM")));
  const t0 = performance.now();
  for (const id of nodes.ids) nodes.spawn(id);
  const ready = async (id: string) => {
    for (let i = 0; i < 3000; i++) {
      try {
        const res = await fetch(`${nodes.url(id)}/readyz`, { signal: AbortSignal.timeout(500) });
        await res.body?.cancel();
        if (res.status === 200) return;
      } catch { /* starting */ }
      await sleep(20);
    }
    throw new Error(`${id} not ready after restart`);
  };
  await Promise.all(nodes.ids.map(ready));
  return performance.now() - t0;
}

function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

const nodes = await Nodes.start({ count: 3, keepLogs: false });
try {
  const seq: { rate: number; p50: number; p99: number }[] = [];
  const batch: number[] = [];
  const consume: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const base = nodes.url(await nodes.waitLeader());
    const q = `bench${r}`;
    await createQueue(base, q);
    progress(`run ${r + 1}/${RUNS}: sequential publish`);
    seq.push(await sequential(base, q, 2000));
    progress(`run ${r + 1}/${RUNS}: batched publish`);
    batch.push(await batched(base, q, 50_000));
    progress(`run ${r + 1}/${RUNS}: receive + ack`);
    consume.push(await consumeAll(base, q, 52_000));
  }
  const failovers: number[] = [];
  for (let r = 0; r < Math.max(RUNS, 5); r++) {
    progress(`failover ${r + 1}`);
    failovers.push(await failover(nodes, "bench0"));
  }

  progress(`backlog: publishing ${BACKLOG} messages`);
  const leader = await nodes.waitLeader();
  await createQueue(nodes.url(leader), "backlog");
  const before = rssMiB(nodes.pid(leader)!);
  await batched(nodes.url(leader), "backlog", BACKLOG, 500, 8);
  const after = rssMiB(nodes.pid(leader)!);
  progress("restart of every node over the backlog");
  const startups: number[] = [];
  for (let r = 0; r < RUNS; r++) startups.push(await restartAll(nodes));
  Deno.stderr.writeSync(new TextEncoder().encode("\n"));

  const lines = [
    `sequential publish: median ${median(seq.map((s) => s.rate)).toFixed(0)} msgs/s, ` +
    `p50 ${median(seq.map((s) => s.p50)).toFixed(2)} ms, p99 ${
      median(seq.map((s) => s.p99)).toFixed(2)
    } ms (runs: ${fmt(seq.map((s) => s.rate))} msgs/s)`,
    `batched publish (100/request, 16 in flight): median ${median(batch).toFixed(0)} msgs/s ` +
    `(runs: ${fmt(batch)})`,
    `receive + ack (16 consumers, 100/receive): median ${median(consume).toFixed(0)} msgs/s ` +
    `(runs: ${fmt(consume)})`,
    `failover (SIGKILL leader → publish committed): median ${median(failovers).toFixed(0)} ms ` +
    `(runs: ${fmt(failovers)})`,
    `backlog of ${BACKLOG} × 256 B: leader RSS ${before.toFixed(0)} → ${after.toFixed(0)} MiB ` +
    `(${((after - before) * 1024 * 1024 / BACKLOG).toFixed(0)} B/message)`,
    `start-up of all 3 nodes over that log until /readyz: median ${
      median(startups).toFixed(0)
    } ms (runs: ${fmt(startups)})`,
  ];
  for (const l of lines) console.log(l);
} finally {
  await nodes.stop();
}
