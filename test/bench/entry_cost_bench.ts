/**
 * What one Raft entry costs each of three real nodes: the project's client publishes 256-byte
 * bodies with ids, `--inflight` at a time (default 1: each entry carries one publish, so a run
 * measures the per-entry path and not the per-message one), to the leader (fsync on, V8's
 * defaults as the peers kit runs them). Per run and node (leader first) it prints, per entry
 * (the leader's `quorumq_proposal_entries_total`): CPU µs, context switches of all the
 * process's threads (voluntary + involuntary, `/proc/<pid>/task/*\/status`), those of the main
 * thread alone, and read and write syscalls (`/proc/<pid>/io`: syscr, syscw, which count
 * every read-like and write-like call: socket reads and writes, file writes, not epoll or
 * fdatasync).
 *
 * `--beside <node entry>` starts a second cluster on another checkout's `src/main.ts`; the
 * runs alternate between the two clusters (one at a time, the other idle), after both are warmed
 * up (`--warmup` seconds each). `--main` gives this cluster another entry point (e.g.
 * `test/bench/profiled_main.ts`); `--v8-flags` gives the nodes V8 flags (default none, as the peers kit
 * runs them; `--perf-basic-prof` names JavaScript functions for `perf report`). The medians per cluster close the output. While a run goes,
 * `/tmp/entry_cost_bench.pids` holds the measured cluster's pids, leader first, for `strace -c
 * -f -p` or `perf` from another shell.
 *
 * Usage: deno run -A test/bench/entry_cost_bench.ts [--runs 5] [--seconds 5] [--inflight 1]
 *   [--warmup 10] [--beside <dir>/src/main.ts] [--main <node entry>] [--v8-flags <flags>]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes, proposalCounts } from "../e2e/nodes.ts";
import { Client } from "../../src/client/mod.ts";
import { cpuSeconds } from "./_cpu.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "5" },
    seconds: { type: "string", default: "5" },
    inflight: { type: "string", default: "1" },
    warmup: { type: "string", default: "10" },
    beside: { type: "string" },
    main: { type: "string" },
    "v8-flags": { type: "string", default: "" },
  },
});
const SECONDS = Number(values.seconds);
const INFLIGHT = Number(values.inflight);
const BODY = "x".repeat(256);
const PIDS_FILE = "/tmp/entry_cost_bench.pids";
const OWN_MAIN = values.main ?? new URL("../../src/main.ts", import.meta.url).pathname;

/** Context switches (voluntary + involuntary) of every thread of `pid`, and of its main thread. */
function switches(pid: number): { all: number; main: number } {
  const field = (status: string, name: string) =>
    Number(status.match(new RegExp(`^${name}:\\s+(\\d+)`, "m"))?.[1] ?? 0);
  const of = (status: string) =>
    field(status, "voluntary_ctxt_switches") + field(status, "nonvoluntary_ctxt_switches");
  let all = 0;
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      all += of(Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/status`));
    } catch {
      // the thread ended meanwhile
    }
  }
  return { all, main: of(Deno.readTextFileSync(`/proc/${pid}/status`)) };
}

/** Read-like and write-like syscalls of `pid` so far. */
function syscalls(pid: number): { r: number; w: number } {
  const io = Deno.readTextFileSync(`/proc/${pid}/io`);
  const field = (name: string) => Number(io.match(new RegExp(`^${name}:\\s+(\\d+)`, "m"))![1]);
  return { r: field("syscr"), w: field("syscw") };
}

interface Sample {
  cpu: number;
  sw: { all: number; main: number };
  io: { r: number; w: number };
}

const sample = (pid: number): Sample => ({
  cpu: cpuSeconds(pid),
  sw: switches(pid),
  io: syscalls(pid),
});

/** Per entry, per node: [cpu µs, switches all, switches main, reads, writes]. */
type Figures = number[][];

interface Cluster {
  readonly name: string;
  readonly nodes: Nodes;
  readonly client: Client;
  runs: Figures[];
}

async function publishFor(c: Cluster, queue: string, tag: string, ms: number): Promise<number> {
  const end = performance.now() + ms;
  let sent = 0;
  let acked = 0;
  await Promise.all(Array.from({ length: INFLIGHT }, async () => {
    while (performance.now() < end) {
      await c.client.publish(queue, { id: `${tag}-${sent++}`, body: BODY });
      acked++;
    }
  }));
  return acked;
}

async function start(name: string, main: string): Promise<Cluster> {
  const nodes = await Nodes.start({
    count: 3,
    storage: "fsync",
    keepLogs: false,
    main,
    v8Flags: values["v8-flags"],
  });
  const leader = await nodes.waitLeader();
  const client = new Client({ nodes: [nodes.url(leader)] });
  await client.createQueue("entries");
  return { name, nodes, client, runs: [] };
}

async function pidsOf(c: Cluster): Promise<{ pids: number[]; url: string }> {
  const leader = await c.nodes.waitLeader();
  const ids = [leader, ...c.nodes.ids.filter((id) => id !== leader)];
  return { pids: ids.map((id) => c.nodes.pid(id)!), url: c.nodes.url(leader) };
}

async function run(c: Cluster, runNo: number): Promise<void> {
  const { pids, url } = await pidsOf(c);
  Deno.writeTextFileSync(PIDS_FILE, pids.join(" ") + "\n");
  const e0 = (await proposalCounts(url)).entries;
  const s0 = pids.map(sample);
  const count = await publishFor(c, "entries", `r${runNo}`, SECONDS * 1000);
  const s1 = pids.map(sample);
  const entries = (await proposalCounts(url)).entries - e0;
  const per = (x: number) => x / entries;
  const figures = pids.map((_, i) => [
    per(s1[i].cpu - s0[i].cpu) * 1e6,
    per(s1[i].sw.all - s0[i].sw.all),
    per(s1[i].sw.main - s0[i].sw.main),
    per(s1[i].io.r - s0[i].io.r),
    per(s1[i].io.w - s0[i].io.w),
  ]);
  c.runs.push(figures);
  console.log(
    `${c.name} run ${runNo + 1}: ${(count / SECONDS).toFixed(0)} msgs/s, ${
      (entries / SECONDS).toFixed(0)
    } entries/s, ${(count / entries).toFixed(1)} msgs/entry, load ${
      Deno.loadavg()[0].toFixed(1)
    }\n  ${show(figures)}`,
  );
}

function show(f: Figures): string {
  const node = (x: number[]) =>
    `${x[0].toFixed(0)} µs, switches ${x[1].toFixed(2)} (main ${x[2].toFixed(2)}), ` +
    `reads ${x[3].toFixed(2)}, writes ${x[4].toFixed(2)}`;
  return `per entry: leader ${node(f[0])}\n    follower ${node(f[1])}\n    follower ${node(f[2])}`;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function medians(runs: Figures[]): Figures {
  return runs[0].map((node, i) => node.map((_, k) => median(runs.map((r) => r[i][k]))));
}

console.error(`load average before: ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
const clusters: Cluster[] = [await start("this", OWN_MAIN)];
try {
  if (values.beside !== undefined) clusters.push(await start("beside", values.beside));
  for (const c of clusters) await publishFor(c, "entries", "warm", Number(values.warmup) * 1000);
  for (let r = 0; r < Number(values.runs); r++) {
    // Alternate which goes first, so neither always follows the other's run.
    const order = r % 2 === 0 ? clusters : [...clusters].reverse();
    for (const c of order) await run(c, r);
  }
  for (const c of clusters) {
    console.log(`${c.name} medians of ${c.runs.length}, ${show(medians(c.runs))}`);
  }
} finally {
  await Deno.remove(PIDS_FILE).catch(() => {});
  for (const c of clusters) {
    await c.client.close();
    await c.nodes.stop();
  }
}
console.error(`load average after: ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
