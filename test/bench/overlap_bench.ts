/**
 * The Raft pipeline alone: three node drivers in this process, in-memory stores whose log
 * appends and hard-state saves take a fixed time (a timer standing for the fsync; the leader's
 * may be slower than the followers'), messages delivered in the next microtask, proposals made
 * straight to the leader's driver with `--inflight` in flight (no batcher: each its own entry).
 * It shows what overlapping a leader's fsync with its followers' is worth without a machine's
 * disk, sockets and other processes in the figures: proposals/s and propose → applied latency
 * p50 / p99, and the leader's CPU per proposal (this process, all three nodes).
 *
 * `--tree <checkout>` runs another checkout's cluster/ (the "before" side of an A/B). `--rate N`
 * proposes open loop instead: N proposals a second, a few each millisecond, whatever is in flight
 * (proposals then arrive while a persist runs, as from many independent clients).
 *
 * Usage: deno run -A test/bench/overlap_bench.ts [--tree <checkout>] [--proposals 5000]
 *   [--inflight 64 | --rate 20000] [--leader-fsync-ms 2] [--follower-fsync-ms 1] [--runs 3]
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { NodeDriver, NodeDriverOptions } from "../../cluster/node/mod.ts";
import type { Message } from "../../cluster/raft/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    tree: { type: "string" },
    proposals: { type: "string", default: "5000" },
    inflight: { type: "string", default: "64" },
    "leader-fsync-ms": { type: "string", default: "2" },
    "follower-fsync-ms": { type: "string", default: "1" },
    runs: { type: "string", default: "3" },
    rate: { type: "string" },
  },
});
const root = values.tree === undefined
  ? new URL("../../", import.meta.url).href
  : new URL(`file://${values.tree.replace(/\/?$/, "/")}`).href;
const nodeMod = await import(`${root}cluster/node/mod.ts`);
const storageMod = await import(`${root}cluster/storage/mod.ts`);
const Driver = nodeMod.NodeDriver as typeof NodeDriver;

const IDS = ["n1", "n2", "n3"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Memory stores whose appends and hard-state saves take `ms()` each, one at a time. */
function slowStorage(ms: () => number): NodeDriverOptions["storage"] {
  const log = new storageMod.MemoryLogStore();
  const hard = new storageMod.MemoryHardStateStore();
  return {
    log: {
      load: () => log.load(),
      append: async (es) => {
        await sleep(ms());
        await log.append(es);
      },
      compact: (i) => log.compact(i),
      reset: (i) => log.reset(i),
      firstIndex: () => log.firstIndex(),
      lastIndex: () => log.lastIndex(),
      term: (i) => log.term(i),
      close: () => log.close(),
    },
    hardState: {
      load: () => hard.load(),
      save: async (hs) => {
        await sleep(ms());
        await hard.save(hs);
      },
    },
    snapshots: new storageMod.MemorySnapshotStore(),
  };
}

/** Messages sent by type, over the run (messages per proposal). */
let counts: Record<string, number> = {};

async function cluster() {
  const drivers = new Map<string, NodeDriver>();
  let leaderId = "";
  const fsyncMs = (id: string) => () =>
    Number(id === leaderId ? values["leader-fsync-ms"] : values["follower-fsync-ms"]);
  const deliver = (msgs: readonly Message[]) => {
    for (const m of msgs) counts[m.type] = (counts[m.type] ?? 0) + 1;
    queueMicrotask(() => {
      for (const m of msgs) drivers.get(m.to)?.receive([m]);
    });
  };
  for (const id of IDS) {
    drivers.set(
      id,
      await Driver.open({
        raft: { id, clusterId: "b", electionTicks: 10, heartbeatTicks: 1, random: Math.random },
        bootstrapConf: { voters: IDS, learners: [] },
        bootstrapUrls: new Map(IDS.map((i) => [i, `http://${i}`])),
        storage: slowStorage(fsyncMs(id)),
        sink: { send: deliver },
        stateMachine: {
          apply: () => undefined,
          snapshot: () => ({ serialize: () => new Uint8Array() }),
          restore: () => {},
        },
        startTicker: (ms, fn) => {
          const t = setInterval(fn, ms);
          return () => clearInterval(t);
        },
        startTimer: (ms, fn) => {
          const t = setTimeout(fn, ms);
          return () => clearTimeout(t);
        },
        tickMs: 20,
        snapshotEveryEntries: 1_000_000,
        log: () => {},
        onFatal: (e) => {
          throw e;
        },
      } as NodeDriverOptions),
    );
  }
  for (let i = 0; i < 500 && leaderId === ""; i++) {
    await sleep(10);
    for (const [id, d] of drivers) if (d.leading) leaderId = id;
  }
  if (leaderId === "") throw new Error("no leader elected");
  return { drivers, leader: drivers.get(leaderId)! };
}

/** utime+stime of this process in microseconds (Linux /proc; clock ticks are 100 Hz here). */
function cpuUs(): number {
  const stat = Deno.readTextFileSync(`/proc/${Deno.pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function run() {
  const { drivers, leader } = await cluster();
  const n = Number(values.proposals);
  const data = new Uint8Array(256);
  const times: number[] = [];
  let next = 0;
  const lane = async () => {
    while (next < n) {
      next++;
      const t = performance.now();
      const out = await leader.propose(data, 10_000);
      if (!out.ok) throw new Error(`proposal failed: ${JSON.stringify(out)}`);
      times.push(performance.now() - t);
    }
  };
  /** Open loop: `rate` a second, proposed each millisecond as the clock says they are due. */
  const openLoop = async (rate: number) => {
    const pending: Promise<void>[] = [];
    const start = performance.now();
    for (let i = 0; i < 10 * n && next < n; i++) {
      const due = Math.min(n, Math.floor((performance.now() - start) * rate / 1000));
      for (; next < due; next++) {
        const t = performance.now();
        pending.push(
          leader.propose(data, 10_000).then((out) => {
            if (!out.ok) throw new Error(`proposal failed: ${JSON.stringify(out)}`);
            times.push(performance.now() - t);
          }),
        );
      }
      await sleep(1);
    }
    await Promise.all(pending);
  };
  counts = {};
  const cpu0 = cpuUs();
  const t0 = performance.now();
  if (values.rate !== undefined) await openLoop(Number(values.rate));
  else await Promise.all(Array.from({ length: Number(values.inflight) }, lane));
  const secs = (performance.now() - t0) / 1000;
  const cpu1 = cpuUs();
  for (const d of drivers.values()) await d.close();
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  const perK = (t: string) => ((counts[t] ?? 0) * 1000 / n).toFixed(0);
  console.error(
    `messages per 1000 proposals: append ${perK("append")}, append_resp ${
      perK("append_resp")
    }, heartbeat ${perK("heartbeat")}`,
  );
  return { rate: n / secs, p50: at(0.5), p99: at(0.99), cpuUs: (cpu1 - cpu0) / n };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rs = [];
for (let i = 0; i < Number(values.runs); i++) rs.push(await run());
console.log(
  `${values.tree ?? "this tree"}: ${median(rs.map((r) => r.rate)).toFixed(0)} proposals/s, ` +
    `p50 ${median(rs.map((r) => r.p50)).toFixed(2)} ms, p99 ${
      median(rs.map((r) => r.p99)).toFixed(2)
    } ms, CPU ${median(rs.map((r) => r.cpuUs)).toFixed(1)} us/proposal (3 nodes), ` +
    `leader fsync ${values["leader-fsync-ms"]} ms, followers ${values["follower-fsync-ms"]} ms, ` +
    `${
      values.rate === undefined ? `${values.inflight} in flight` : `${values.rate}/s open loop`
    }, median of ${rs.length}, load ${Deno.loadavg()[0].toFixed(1)}`,
);
