/**
 * A whole cluster restarted on data it left (F9 of test/chaos/FINDINGS.md): `deno run -A
 * test/bench/restart_bench.ts --data <dir holding n1/ n2/ n3/> [--runs 3] [--main <a build's
 * src/main.ts>]...`.
 *
 * Each run copies the data directories (a chaos run keeps them with `QUORUMQ_CHAOS_KEEP=1`, under
 * `test/chaos/runs/<run>/data`), starts the three nodes at once on the ports their logs name (the
 * member URLs are in the log), and times from the spawn to the first write acknowledged (a queue
 * created through any node) and to every node ready. With several `--main`, the runs alternate
 * between the builds (`--runs` each), for an A/B in one sitting. Prints each run and the medians,
 * with the load, and per node what its log says: the commit it started from against its last
 * entry (what it could apply before it hears a leader), when it listened, when a leader was
 * known, and its process CPU. `--logs <dir>` keeps each run's node logs there.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { unwrapSnapshot } from "../../cluster/node/mod.ts";
import { decodeConfChange, EntryKind } from "../../cluster/raft/mod.ts";
import { FileLogStore, FileSnapshotStore } from "../../cluster/storage/mod.ts";
import { Nodes, sleep } from "../e2e/nodes.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    data: { type: "string" },
    runs: { type: "string", default: "3" },
    main: { type: "string", multiple: true },
    // A directory to write each run's node logs to (<dir>/<run>-<node>.log).
    logs: { type: "string" },
  },
});
if (values.data === undefined) {
  console.error("usage: restart_bench.ts --data <dir with n1 n2 n3> [--runs 3] [--main ...]");
  Deno.exit(2);
}
const DATA = values.data;
const RUNS = Number(values.runs);
const MAINS: (string | undefined)[] = values.main?.length ? values.main : [undefined];
const IDS = ["n1", "n2", "n3"];

/** The port each member listens on, from n1's snapshot and log (its member URLs). */
async function portsOf(dir: string): Promise<Map<string, number>> {
  const copy = await Deno.makeTempDir({ prefix: "qq_restart_ports_" });
  try {
    await new Deno.Command("cp", { args: ["-r", `${dir}/log`, `${dir}/snapshots`, copy] })
      .output();
    const urls = new Map<string, string>();
    const snap = await new FileSnapshotStore(`${copy}/snapshots`).load();
    if (snap !== undefined) {
      for (const [id, u] of unwrapSnapshot(snap.data).urls) urls.set(id, u);
    }
    const log = await FileLogStore.open(`${copy}/log`, { log: () => {} });
    for (const e of (await log.load()).entries) {
      if (e.kind !== EntryKind.ConfChange) continue;
      const cc = decodeConfChange(e.data);
      if (cc.context?.startsWith("http")) urls.set(cc.nodeId, cc.context);
    }
    await log.close();
    return new Map([...urls].map(([id, u]) => [id, Number(new URL(u).port)]));
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
}

async function ready(url: string): Promise<boolean> {
  const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(500) }).catch(() => null);
  await res?.body?.cancel();
  return res?.status === 200;
}

interface RunResult {
  write: number;
  allReady: number;
  lines: string[];
}

async function run(main: string | undefined, k: number): Promise<RunResult> {
  const dir = await Deno.makeTempDir({ prefix: "qq_restart_bench_" });
  const ports = await portsOf(`${DATA}/n1`);
  let nodes: Nodes | undefined;
  try {
    for (const id of IDS) {
      await new Deno.Command("cp", { args: ["-r", `${DATA}/${id}`, `${dir}/${id}`] }).output();
    }
    // `Nodes.start` waits for a leader; the clock starts at the spawn, so it is started by hand.
    const t0 = performance.now(), spawnedAt = Date.now();
    const spawned = Nodes.start({
      count: 3,
      dataDir: dir,
      keepLogs: true,
      ...(main ? { main } : {}),
      pickPorts: () => IDS.map((id) => ports.get(id)!),
    });
    let writeMs = NaN;
    const wrote = (async () => {
      for (let i = 0; i < 10_000 && performance.now() - t0 < 120_000; i++) {
        const port = ports.get(IDS[i % 3])!;
        const res = await fetch(`http://127.0.0.1:${port}/v1/queues/restart-probe-${k}`, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: "{}",
          signal: AbortSignal.timeout(10_000),
        }).catch(() => null);
        await res?.body?.cancel();
        if (res?.status === 201 || res?.status === 200) {
          writeMs = performance.now() - t0;
          return;
        }
        await sleep(50);
      }
    })();
    nodes = await spawned;
    await wrote;
    let readyMs = NaN;
    for (let i = 0; i < 2400 && performance.now() - t0 < 120_000; i++) {
      const all = await Promise.all(IDS.map((id) => ready(nodes!.url(id))));
      if (all.every((x) => x)) {
        readyMs = performance.now() - t0;
        break;
      }
      await sleep(50);
    }
    const lines = IDS.map((id) => describe(id, nodes!.logs(id), spawnedAt));
    if (values.logs !== undefined) {
      for (const id of IDS) {
        await Deno.writeTextFile(
          `${values.logs}/${k}-${MAINS.indexOf(main)}-${id}.log`,
          nodes.logs(id),
        );
      }
    }
    return { write: writeMs, allReady: readyMs, lines };
  } finally {
    await nodes?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** One node's start, from its log lines, in seconds since the spawn (`spawnedAt`, epoch ms). */
function describe(id: string, logs: string, spawnedAt: number): string {
  const events = logs.split("\n").flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
  const t = (e: Record<string, unknown> | undefined) => e ? Date.parse(e.time as string) : NaN;
  const first = spawnedAt;
  const find = (name: string) => events.find((e) => e.event === name);
  const started = find("node_started");
  const listening = find("node_listening");
  const leader = events.find((e) => e.event === "leader_changed" && e.leaderId);
  const committed = find("replay_committed");
  const done = find("replay_done");
  const since = (e: Record<string, unknown> | undefined) => ((t(e) - first) / 1000).toFixed(1);
  return `${id}: commit ${started?.commit} of ${started?.entries} entries; listening ${
    since(listening)
  } s (cpu ${listening?.cpuMs} ms), leader known ${since(leader)} s (${
    leader?.leaderId ?? "-"
  }), replayed to the commit ${since(committed)} s (cpu ${committed?.cpuMs} ms), to the last ${
    since(done)
  } s (cpu ${done?.cpuMs} ms)`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const byMain = new Map<string, { write: number[]; ready: number[] }>();
for (let r = 0; r < RUNS; r++) {
  for (const main of MAINS) {
    const name = main ?? "this build";
    const load = Deno.loadavg()[0].toFixed(1);
    const res = await run(main, r);
    const m = byMain.get(name) ?? { write: [], ready: [] };
    m.write.push(res.write);
    m.ready.push(res.allReady);
    byMain.set(name, m);
    console.log(
      `${name} run ${r + 1} (load ${load}): first write ${(res.write / 1000).toFixed(2)} s, ` +
        `every node ready ${(res.allReady / 1000).toFixed(2)} s`,
    );
    for (const l of res.lines) console.log(`  ${l}`);
  }
}
for (const [name, m] of byMain) {
  console.log(
    `${name}: first write median ${(median(m.write) / 1000).toFixed(2)} s (${
      m.write.map((x) => (x / 1000).toFixed(1)).join(", ")
    }), every node ready median ${(median(m.ready) / 1000).toFixed(2)} s`,
  );
}
