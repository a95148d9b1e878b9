/**
 * Consume + ack on three real nodes (fsync on, loopback), the peers' consume workload: a backlog
 * of 256-byte messages in one queue, drained by `Client.consume` (concurrency 64, a handler that
 * returns at once, acks in batches) on the leader, pushed over the stream (or long polls with
 * `--transport http`). Each run builds its own backlog, warms up on 2,000 messages, then times
 * `--count` messages and reports the rate and the CPU per consumed message of the three nodes
 * (from /proc) and of this client process. Medians of `--runs`; the load average before and
 * after (a shared machine).
 *
 * `--profile <dir>`: the nodes run `profiled_main.ts` and record the timed part only (signalled
 * with SIGUSR2), and so does this process (the client), into `<dir>`; summarize with
 * `profile_summary.ts`.
 *
 * Usage: deno run -A test/bench/consume_bench.ts [--runs 3] [--count 20000]
 *   [--transport stream|http] [--concurrency 64] [--prefetch n (default: adaptive)]
 *   [--profile <dir>]
 *
 * @module
 */

import { Session } from "node:inspector";
import process from "node:process";
import { parseArgs } from "node:util";
import { Nodes } from "../e2e/nodes.ts";
import { Client } from "../../src/client/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    count: { type: "string", default: "20000" },
    transport: { type: "string", default: "stream" },
    concurrency: { type: "string", default: "64" },
    prefetch: { type: "string" },
    profile: { type: "string" },
  },
});
const RUNS = Number(values.runs);
const COUNT = Number(values.count);
const WARM = 2000;
const CONCURRENCY = Number(values.concurrency);
const PREFETCH = values.prefetch === undefined ? {} : { prefetch: Number(values.prefetch) };
const transport = values.transport === "http" ? "http" : "stream";
const profileDir = values.profile;

/** CPU seconds (user + system) of process `pid` so far. */
function cpuOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}
const ownCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** The client's own profiler (the nodes profile themselves, see profiled_main.ts). */
function clientProfiler() {
  const session = new Session();
  session.connect();
  const post = <T>(method: string) =>
    new Promise<T>((resolve, reject) =>
      session.post(method, (err: Error | null, r: unknown) => err ? reject(err) : resolve(r as T))
    );
  return {
    start: async () => {
      await post("Profiler.enable");
      await post("Profiler.start");
    },
    stop: async () => {
      const { profile } = await post<{ profile: unknown }>("Profiler.stop");
      await Deno.writeTextFile(
        `${profileDir}/client-${Date.now()}.cpuprofile`,
        JSON.stringify(profile),
      );
    },
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");

console.error(`load average before: ${load()}`);
if (profileDir !== undefined) {
  Deno.env.set("QQ_PROFILE_DIR", profileDir);
  Deno.env.set("QQ_PROFILE_ON", "signal");
}
const nodes = await Nodes.start({
  count: 3,
  storage: "fsync",
  keepLogs: false,
  ...(profileDir !== undefined
    ? { main: new URL("./profiled_main.ts", import.meta.url).pathname }
    : {}),
});
const signalNodes = () => {
  for (const id of nodes.ids) Deno.kill(nodes.pid(id)!, "SIGUSR2");
};
try {
  const out: Record<string, number[]> = {};
  const add = (k: string, v: number) => (out[k] ??= []).push(v);
  for (let run = 0; run < RUNS; run++) {
    const leader = await nodes.waitLeader();
    const url = nodes.url(leader);
    const client = new Client({ nodes: [url], transport });
    try {
      const queue = `consume-${run}`;
      await client.createQueue(queue);
      const batch = Array.from({ length: 100 }, () => ({ body: "x".repeat(256) }));
      for (let i = 0; i < COUNT + WARM; i += 100) await client.publishBatch(queue, batch);
      await client.consume(queue, () => {}, { concurrency: CONCURRENCY, maxMessages: WARM });
      const profiler = profileDir !== undefined && run === RUNS - 1 ? clientProfiler() : undefined;
      if (profiler !== undefined) {
        signalNodes();
        await profiler.start();
      }
      const cpu0 = nodes.ids.map((id) => cpuOf(nodes.pid(id)));
      const own0 = ownCpu();
      const t0 = performance.now();
      const stats = await client.consume(queue, () => {}, {
        concurrency: CONCURRENCY,
        maxMessages: COUNT,
        ...PREFETCH,
      });
      const seconds = (performance.now() - t0) / 1000;
      const cpu = nodes.ids.map((id, i) => cpuOf(nodes.pid(id)) - cpu0[i]);
      const own = ownCpu() - own0;
      if (profiler !== undefined) {
        await profiler.stop();
        signalNodes();
      }
      const n = stats.acked;
      const leaderAt = nodes.ids.indexOf(leader);
      const server = cpu.reduce((a, b) => a + b, 0);
      add("msgs/s", n / seconds);
      add("server µs/msg", server / n * 1e6);
      add("leader µs/msg", cpu[leaderAt] / n * 1e6);
      add("followers µs/msg", (server - cpu[leaderAt]) / n * 1e6);
      add("client µs/msg", own / n * 1e6);
      console.error(
        `run ${run + 1}: ${
          JSON.stringify(Object.fromEntries(
            Object.entries(out).map(([k, v]) => [
              k,
              Math.round(v.at(-1)!),
            ]),
          ))
        } (${stats.received} received, ${stats.lost} lost, load ${load()})`,
      );
      await client.deleteQueue(queue).catch(() => {});
    } finally {
      await client.close();
    }
  }
  const medians = Object.fromEntries(
    Object.entries(out).map(([k, v]) => [k, Math.round(median(v))]),
  );
  console.log(JSON.stringify({ transport, runs: RUNS, count: COUNT, medians, loadAfter: load() }));
} finally {
  await nodes.stop();
}
