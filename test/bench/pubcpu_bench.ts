/**
 * Server CPU per published message, on three real nodes (fsync on, loopback), 256 publishes of
 * 256 bytes in flight to the leader, for each workload named in `--workloads`:
 * - `stream`: raw `StreamConnection.request` publishes (no session), as `stream_bench.ts`;
 * - `client`: `Client.publish` with an id (a session, on the stream), as the peers' client driver;
 * - `http`: one `fetch` per message on keep-alive connections;
 * - `follower`: as `http`, to a follower (every write forwarded to the leader);
 * - `batch`: 100 messages with ids per `fetch`, 16 requests in flight (the peers' B100);
 * - `undici`: the peers kit's HTTP client for its `B` workload, one `{id, body}` per request from
 *   Node.js with undici's `request()` (512 keep-alive connections), in a child process
 *   (`_undici.ts`: needs `node` and `npm`; undici is installed into `--undici-dir` once). Its
 *   client figure is that process's CPU.
 * For each run and workload it prints msgs/s and the CPU (user + system, from `/proc`) per message
 * of the leader, of each follower and of this client process, the system (kernel) share of the
 * leader's and a follower's, and their read and write system calls per 1000 messages
 * (`/proc/<pid>/io`), and the proposals per Raft entry on the leader (its `/metrics`); then the
 * medians. Workloads alternate inside each run. The 1-minute load average is printed before and after.
 *
 * With `--profile <dir>` the nodes run `test/bench/profiled_main.ts`, and each measured phase is
 * profiled (SIGUSR1 .. SIGUSR2): one `.cpuprofile` per node and phase in `<dir>` (summarize with
 * `test/bench/profile_summary.ts`). Profiling costs CPU itself: take figures from runs without it.
 *
 * `--checkout <dir>` runs the nodes from another checkout of the project (its `src/main.ts`, or its
 * `test/bench/profiled_main.ts` with `--profile`), for a before/after comparison in one sitting.
 *
 * `--inflight <n>` sets how many calls are in flight (default 256; the `batch` workload keeps 16).
 * With 1 it measures sequential publish: the latency and the CPU of one Raft round per message.
 * Each call's latency is recorded: p50 and p99 are printed with the rate.
 *
 * `--glibc-tunables <value>` replaces the nodes' `GLIBC_TUNABLES` (src/server/memory.ts); an empty
 * value runs them with glibc's defaults (what the malloc settings cost in CPU). `--v8-flags <flags>`
 * replaces the nodes' `V8_FLAGS` likewise (empty: V8's defaults), to compare their CPU cost.
 *
 * Usage: deno run -A test/bench/pubcpu_bench.ts [--runs 3] [--count 20000]
 *   [--workloads stream,client,http,follower,batch] [--profile dir] [--checkout dir]
 *   [--inflight 256] [--glibc-tunables value] [--v8-flags flags] [--undici-dir dir]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes, proposalCounts, sleep } from "../e2e/nodes.ts";
import { Client, StreamConnection } from "../../src/client/mod.ts";
import { cpuSeconds } from "./_cpu.ts";
import { ensureUndici, UndiciRun } from "./_undici.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    count: { type: "string", default: "20000" },
    workloads: { type: "string", default: "stream,client,http" },
    profile: { type: "string" },
    checkout: { type: "string" },
    inflight: { type: "string", default: "256" },
    "glibc-tunables": { type: "string" },
    "v8-flags": { type: "string" },
    "undici-dir": { type: "string", default: "/tmp/qq-undici" },
  },
});
const RUNS = Number(values.runs);
const COUNT = Number(values.count);
const WORKLOADS = values.workloads.split(",");
const LANES = Number(values.inflight);
/** Messages per request and requests in flight of the `batch` workload. */
const BATCH = 100;
const BATCH_LANES = 16;
const BODY_TEXT = "x".repeat(256);
const BODY = JSON.stringify({ body: BODY_TEXT });
const CHECKOUT = values.checkout ?? new URL("../..", import.meta.url).pathname;

/** System (kernel) CPU seconds of process `pid` so far. */
function systemSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[12]) / 100;
}

/** Read and write system calls of process `pid` so far (`/proc/<pid>/io`). */
function syscalls(pid: number): { r: number; w: number } {
  const io = Deno.readTextFileSync(`/proc/${pid}/io`);
  const field = (name: string) => Number(io.match(new RegExp(`^${name}: (\\d+)$`, "m"))?.[1] ?? 0);
  return { r: field("syscr"), w: field("syscw") };
}

/** Runs `count` calls of `send`, `width` at a time; returns each call's latency in ms. */
async function lanes(
  count: number,
  send: (i: number) => Promise<void>,
  width = LANES,
): Promise<number[]> {
  let next = 0;
  const ms: number[] = [];
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) {
      const t = performance.now();
      await send(next++);
      ms.push(performance.now() - t);
    }
  }));
  return ms;
}

/** The `p` quantile (0..1) of `xs`. */
function quantile(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** One HTTP publish of `body`; throws unless it is a 201 (a batch: unless every item is). */
async function post(url: string, queue: string, body: string, items = 0): Promise<void> {
  const res = await fetch(`${url}/v1/queues/${queue}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`publish: ${res.status} ${text.slice(0, 200)}`);
  if (items > 0) {
    const results = (JSON.parse(text) as { results?: { error?: unknown }[] }).results;
    if (results?.length !== items || results.some((r) => r.error)) throw new Error("batch refused");
  }
}

type Publisher = (queue: string, tag: string) => (i: number) => Promise<void>;

function publisher(kind: string, url: string, stream: StreamConnection, client: Client): Publisher {
  if (kind === "stream") {
    return (queue) => async () => {
      const res = await stream.request("POST", `/v1/queues/${queue}/messages`, {}, BODY);
      await res.arrayBuffer();
      if (res.status !== 201) throw new Error(`publish: ${res.status}`);
    };
  }
  if (kind === "client") {
    return (queue, tag) => async (i) => {
      await client.publish(queue, { id: `${tag}-${i}`, body: BODY_TEXT });
    };
  }
  if (kind === "batch") {
    return (queue, tag) => (i) => {
      const messages = Array.from(
        { length: BATCH },
        (_, k) => ({ id: `${tag}-${i}-${k}`, body: BODY_TEXT }),
      );
      return post(url, queue, JSON.stringify({ messages }), BATCH);
    };
  }
  return (queue) => () => post(url, queue, BODY);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");

console.error(`load average before: ${load()}`);
if (values.profile) {
  Deno.env.set("QQ_PROFILE_DIR", values.profile);
  Deno.env.set("QQ_PROFILE_SIGNALS", "1");
}
const nodes = await Nodes.start({
  count: 3,
  storage: "fsync",
  keepLogs: false,
  main: `${CHECKOUT}/${values.profile ? "test/bench/profiled_main.ts" : "src/main.ts"}`,
  ...(values["v8-flags"] !== undefined ? { v8Flags: values["v8-flags"] } : {}),
  env: () => ({
    ...(values.profile ? { QQ_PROFILE_DIR: values.profile, QQ_PROFILE_SIGNALS: "1" } : {}),
    ...(values["glibc-tunables"] !== undefined ? { GLIBC_TUNABLES: values["glibc-tunables"] } : {}),
  }),
});
try {
  const out: Record<string, number[]> = {};
  const add = (k: string, v: number) => (out[k] ??= []).push(v);
  for (let run = 0; run < RUNS; run++) {
    const leader = await nodes.waitLeader();
    const url = nodes.url(leader);
    const followers = nodes.ids.filter((id) => id !== leader);
    const stream = await StreamConnection.open(url);
    const client = new Client({ nodes: [url] });
    try {
      for (const kind of WORKLOADS) {
        const queue = `cpu-${kind}-${run}`;
        await stream.request("PUT", `/v1/queues/${queue}`, {}, "{}");
        const target = kind === "follower" ? nodes.url(followers[0]) : url;
        const make = publisher(kind, target, stream, client);
        // A call of `batch` carries BATCH messages: COUNT messages are COUNT / BATCH calls.
        const per = kind === "batch" ? BATCH : 1;
        const width = kind === "batch" ? Math.min(BATCH_LANES, LANES) : LANES;
        const undici = kind === "undici"
          ? await UndiciRun.start({
            undici: await ensureUndici(values["undici-dir"]),
            url: target,
            queue,
            tag: `${queue}-${Date.now()}`,
            warm: 2000,
            count: COUNT,
            inflight: LANES,
          })
          : await lanes(2000 / per, make(queue, `w${run}`), width).then(() => undefined);
        const pids = [leader, ...followers].map((id) => nodes.pid(id)!);
        if (values.profile) { for (const pid of pids) Deno.kill(pid, "SIGUSR1"); }
        await sleep(50);
        const before = pids.map(cpuSeconds);
        const ioBefore = pids.map(syscalls);
        const sysBefore = pids.map(systemSeconds);
        const counts0 = await proposalCounts(url);
        const self0 = cpuSeconds("self");
        const t0 = performance.now();
        const measured = undici === undefined
          ? await lanes(COUNT / per, make(queue, `m${run}`), width)
          : await undici.go();
        const seconds = (performance.now() - t0) / 1000;
        const after = pids.map(cpuSeconds);
        const ioAfter = pids.map(syscalls);
        const sysAfter = pids.map(systemSeconds);
        const latencies = Array.isArray(measured) ? measured : measured.latencies;
        const self = Array.isArray(measured) ? cpuSeconds("self") - self0 : measured.cpuSeconds;
        if (values.profile) { for (const pid of pids) Deno.kill(pid, "SIGUSR2"); }
        const counts = await proposalCounts(url);
        const perEntry = (counts.proposals - counts0.proposals) /
          (counts.entries - counts0.entries);
        const us = (s: number) => s / COUNT * 1e6;
        const perThousand = (n: number) => (n / COUNT * 1000).toFixed(0);
        const [sl, sf] = sysAfter.map((s, i) => us(s - sysBefore[i]));
        const [l, f1, f2] = after.map((a, i) => us(a - before[i]));
        const [p50, p99] = [quantile(latencies, 0.5), quantile(latencies, 0.99)];
        add(`${kind} msgs/s`, COUNT / seconds);
        add(`${kind} p50 µs`, p50 * 1000);
        add(`${kind} p99 µs`, p99 * 1000);
        add(`${kind} server µs/msg`, l + f1 + f2);
        add(`${kind} leader µs/msg`, l);
        add(`${kind} followers µs/msg`, f1 + f2);
        add(`${kind} client µs/msg`, us(self));
        add(`${kind} proposals/entry`, perEntry);
        console.error(
          `run ${run + 1} ${kind}: ${(COUNT / seconds).toFixed(0)} msgs/s, p50 ${
            p50.toFixed(2)
          } p99 ${p99.toFixed(2)} ms, µs/msg leader ${l.toFixed(1)} followers ${f1.toFixed(1)} + ${
            f2.toFixed(1)
          } client ${us(self).toFixed(1)}, ${perEntry.toFixed(1)} proposals/entry (system: leader ${
            sl.toFixed(0)
          } follower ${sf.toFixed(0)}); per 1000 msgs, reads/writes leader ${
            perThousand(ioAfter[0].r - ioBefore[0].r)
          }/${perThousand(ioAfter[0].w - ioBefore[0].w)} follower ${
            perThousand(ioAfter[1].r - ioBefore[1].r)
          }/${perThousand(ioAfter[1].w - ioBefore[1].w)}`,
        );
        if (values.profile) await sleep(1000);
      }
    } finally {
      await client.close();
      await stream.close();
    }
  }
  const medians = Object.fromEntries(
    Object.entries(out).map(([k, v]) => [k, Number(median(v).toFixed(k.endsWith("/msg") ? 1 : 0))]),
  );
  console.log(JSON.stringify({ runs: RUNS, count: COUNT, medians, loadAfter: load() }));
} finally {
  await nodes.stop();
}
