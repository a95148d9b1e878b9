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
 * known, and its process CPU. `--logs <dir>` keeps each run's node logs there. `--load N` starts N
 * clients at the spawn that publish through any node over HTTP (each request bounded by 5 s,
 * retried after 50 ms) until every node is ready, as a chaos run's workers keep writing through
 * a full restart: what serving them costs the replaying nodes shows in their CPU.
 *
 * `--build <dir>` first makes such data at production settings (then times the restarts on it
 * unless `--runs 0`): three fresh nodes, `--messages` ready 256-byte messages with ids published
 * in batches of 50 (the nodes snapshot along the way at their default thresholds), then a tail
 * of `--tail` requests, 16 in flight, as consumers and producers make them (single publishes
 * with ids, and per tenth a receive of up to 10 and the ack of what it got), so the log past the
 * last snapshot holds the small entries a restart replays; then all three are SIGKILLed and
 * their data directories left in `<dir>/n1..n3`.
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
    build: { type: "string" },
    messages: { type: "string", default: "1000000" },
    tail: { type: "string", default: "60000" },
    // Clients that keep writing through the restart, as a chaos run's workers do (see the doc).
    load: { type: "string", default: "0" },
  },
});
if (values.data === undefined && values.build === undefined) {
  console.error(
    "usage: restart_bench.ts --data <dir with n1 n2 n3> | --build <dir> [--messages N --tail N]" +
      " [--runs 3] [--main ...]",
  );
  Deno.exit(2);
}
const DATA = values.build ?? values.data!;
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
    // The copy's writeback (1.8 GB at 1,000,000 messages) done before the spawn: else the nodes'
    // first fsyncs (a vote, the leader's first entry) wait behind it, and so does the first write.
    await new Deno.Command("sync").output();
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
    const load = writers(Number(values.load), ports, `restart-probe-${k}`, t0);
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
    await load.stop();
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

/** `n` clients publishing to `queue` through every node in turn (`--load`) until stopped. */
function writers(n: number, ports: Map<string, number>, queue: string, t0: number) {
  let done = false;
  const all = Array.from({ length: n }, async (_, c) => {
    for (let i = 0; i < 100_000 && !done && performance.now() - t0 < 120_000; i++) {
      const port = ports.get(IDS[(c + i) % 3])!;
      const res = await fetch(`http://127.0.0.1:${port}/v1/queues/${queue}/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ body: "x".repeat(64) }),
        signal: AbortSignal.timeout(5_000),
      }).catch(() => null);
      await res?.body?.cancel();
      if (res?.status !== 201 && res?.status !== 200) await sleep(50);
    }
  });
  return {
    stop: async () => {
      done = true;
      await Promise.all(all);
    },
  };
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

/** POSTs `body` to `url` (JSON), retried on failure up to 50 times; the answer's JSON. */
async function postJson(url: string, body: unknown): Promise<unknown> {
  for (let attempt = 0;; attempt++) {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    }).catch(() => null);
    if (res && res.status < 300) return await res.json().catch(() => ({}));
    await res?.body?.cancel();
    if (attempt > 50) throw new Error(`POST ${url} failed: ${res?.status}`);
    await sleep(200);
  }
}

/** Makes the data `--build` describes in `dir` (see the module doc). */
async function build(dir: string, messages: number, tail: number): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const nodes = await Nodes.start({ count: 3, dataDir: dir, keepLogs: false });
  try {
    const base = () => nodes.url(IDS[0]);
    const q = `${base()}/v1/queues/backlog`;
    const put = await fetch(q, { method: "PUT", headers: { "content-type": "application/json" } });
    await put.body?.cancel();
    const body = "x".repeat(256);
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let guard = 0; guard < 1e7 && next < messages; guard++) {
        const start = next;
        next = Math.min(messages, start + 50);
        const batch = Array.from(
          { length: next - start },
          (_, k) => ({ id: `m${start + k}`, body }),
        );
        await postJson(`${q}/messages`, { messages: batch });
        if (start % 100_000 < 50) console.error(`build: ${start} published`);
      }
    }));
    let n = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      for (let guard = 0; guard < 1e7 && n < tail; guard++) {
        const k = n++;
        if (k % 10 === 9) {
          const got = await postJson(`${q}/receive`, { max: 10 }) as {
            messages?: { receipt: string }[];
          };
          const receipts = (got.messages ?? []).map((m) => m.receipt);
          if (receipts.length > 0) await postJson(`${q}/ack`, { receipts });
        } else await postJson(`${q}/messages`, { id: `t${k}`, body });
        if (k % 10_000 === 0) console.error(`build: tail ${k}`);
      }
    }));
  } finally {
    await Promise.all(IDS.map((id) => nodes.kill(id)));
    await nodes.stop();
  }
}

if (values.build !== undefined) {
  await build(values.build, Number(values.messages), Number(values.tail));
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
