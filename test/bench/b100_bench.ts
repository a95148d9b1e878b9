/**
 * The peers' B100 as its kit runs it, to find why some runs are faster than others: three fsync
 * nodes started as the kit starts them (`deno run -A src/main.ts ...`, no `--v8-flags`, no
 * `GLIBC_TUNABLES`), a queue that already holds what the kit's earlier workloads put in it
 * (`--prefill`, in batches; or, as the kit itself fills it, `--sequential` single publishes one at a
 * time, each its own Raft entry, then `--windowed` single publishes 256 in flight, before the
 * prefill), then `--count` messages in requests of 100 `{ id, body }` (the kit's
 * ids, a 256-character string body), 16 in flight, to the leader. Per run: msgs/s, CPU per message
 * of each node and of this client, and with `--trace-gc` each node's collections during the
 * measured phase (count and pause time of scavenges and mark-compacts, from V8's `--trace-gc` on
 * the node's stdout, which `--log-dir` keeps); with `--log-level info` the snapshots any node
 * started or finished during it (a snapshot costs CPU in proportion to the whole state: the runs
 * it falls in are the slow ones). Each run uses a new queue and deletes it after, as the kit does.
 * The nodes get `--allow-anonymous`, as the kit's client is anonymous.
 *
 * `--checkout <dir>` runs the nodes from another checkout (A/B in one sitting: run twice).
 * `--profile <dir>` runs them as `test/bench/profiled_main.ts` and profiles each measured phase
 * (one `.cpuprofile` per node and run; with `--heap`, V8's sampling heap profile instead).
 *
 * Usage: deno run -A test/bench/b100_bench.ts [--runs 3] [--count 200000] [--prefill 96000]
 *   [--sequential 0] [--windowed 0]
 *   [--checkout dir] [--trace-gc] [--log-dir dir] [--log-level warn] [--v8-flags flags] [--keep-data]
 *   [--profile dir [--heap]]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { freePorts, sleep } from "../e2e/nodes.ts";
import { cpuSeconds } from "./_cpu.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    count: { type: "string", default: "200000" },
    prefill: { type: "string", default: "96000" },
    sequential: { type: "string", default: "0" },
    windowed: { type: "string", default: "0" },
    checkout: { type: "string" },
    "trace-gc": { type: "boolean", default: false },
    "log-dir": { type: "string" },
    "v8-flags": { type: "string", default: "" },
    profile: { type: "string" },
    "log-level": { type: "string", default: "warn" },
    heap: { type: "boolean", default: false },
    "keep-data": { type: "boolean", default: false },
  },
});
const RUNS = Number(values.runs);
const COUNT = Number(values.count);
const PREFILL = Number(values.prefill);
const SEQUENTIAL = Number(values.sequential);
const WINDOWED = Number(values.windowed);
const PER = 100;
const LANES = 16;
const PAYLOAD = "a".repeat(256);
const CHECKOUT = values.checkout ?? new URL("../..", import.meta.url).pathname;
const LOGS = values["log-dir"] ?? await Deno.makeTempDir({ prefix: "b100-logs-" });
await Deno.mkdir(LOGS, { recursive: true });
const DATA = await Deno.makeTempDir({ prefix: "b100-data-" });
const TAG = `${Deno.pid}-${Date.now()}`;

const ids = ["n1", "n2", "n3"];
const ports = freePorts(3);
const urls = ports.map((p) => `http://127.0.0.1:${p}`);
const peers = ids.map((id, i) => `${id}=${urls[i]}`).join(",");
const flags = [
  ...(values["v8-flags"] ? [values["v8-flags"]] : []),
  ...(values["trace-gc"] ? ["--trace-gc"] : []),
];
const spawnedAt = performance.now();
const procs = ids.map((id, i) =>
  new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...(flags.length > 0 ? [`--v8-flags=${flags.join(",")}`] : []),
      "-A",
      `${CHECKOUT}/${values.profile ? "test/bench/profiled_main.ts" : "src/main.ts"}`,
      "--id",
      id,
      "--listen",
      `127.0.0.1:${ports[i]}`,
      "--peers",
      peers,
      "--data",
      `${DATA}/${id}`,
      "--secret",
      "b100bench",
      "--cluster-id",
      `b100-${TAG}`,
      "--log-level",
      values["log-level"],
      // The kit's nodes are opened to its anonymous client the same way (its environment).
      "--allow-anonymous",
    ],
    cwd: CHECKOUT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: {
      NO_COLOR: "1",
      ...(values.profile
        ? {
          QQ_PROFILE_DIR: values.profile,
          QQ_PROFILE_SIGNALS: "1",
          ...(values.heap ? { QQ_PROFILE_HEAP: "1" } : {}),
        }
        : {}),
    },
  }).spawn()
);
// Each node's stdout (V8's --trace-gc lines, block-buffered: read once the nodes exit) and its
// log lines (stderr) into files.
const copies = procs.flatMap((p, i) =>
  (["out", "err"] as const).map(async (kind) => {
    const file = await Deno.open(`${LOGS}/${ids[i]}.${kind}`, { create: true, write: true });
    await (kind === "out" ? p.stdout : p.stderr).pipeTo(file.writable);
  })
);

const json = { "content-type": "application/json" };
async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  // deno-lint-ignore no-explicit-any
): Promise<any> {
  const r = await fetch(base + path, {
    method,
    headers: json,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : {};
}

async function leader(): Promise<number> {
  for (let t = 0; t < 300; t++) {
    for (const u of urls) {
      try {
        const c = await call(u, "GET", "/v1/cluster?consistency=stale");
        if (c.leaderId) return ids.indexOf(c.leaderId);
      } catch { /* not yet */ }
    }
    await sleep(200);
  }
  throw new Error("no leader");
}

async function windowed(n: number, width: number, f: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await f(next++);
  }));
}

async function batches(base: string, queue: string, n: number, tag: string) {
  await windowed(Math.floor(n / PER), LANES, async (j) => {
    const messages = Array.from(
      { length: PER },
      (_, k) => ({ id: `${tag}-m${j}-${k}`, body: PAYLOAD }),
    );
    const r = await call(base, "POST", `/v1/queues/${queue}/messages`, { messages });
    if (r.results?.length !== PER || r.results.some((x: { error?: unknown }) => x.error)) {
      throw new Error("batch refused");
    }
  });
}

/** `n` single publishes `{ id, body }`, `width` in flight (the kit's `A` and `B` workloads). */
async function singles(base: string, queue: string, n: number, width: number, tag: string) {
  await windowed(n, width, async (i) => {
    const r = await call(base, "POST", `/v1/queues/${queue}/messages`, {
      id: `${tag}-${i}`,
      body: PAYLOAD,
    });
    if (r.duplicate) throw new Error(`unexpected duplicate at ${i}`);
  });
}

/**
 * Scavenge and mark-compact counts and pause ms in `lines` (V8's --trace-gc) whose time (ms since
 * the isolate started, about when it was spawned) falls in [from, to).
 */
function gcOf(lines: string[], from: number, to: number) {
  const g = { scav: 0, scavMs: 0, mc: 0, mcMs: 0, ms: 0, msMs: 0 };
  for (const l of lines) {
    const at = Number(l.match(/^\[[^\]]*\]\s+(\d+) ms:/)?.[1] ?? NaN);
    if (!(at >= from && at < to)) continue;
    const pause = Number(l.match(/MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \//)?.[1] ?? 0);
    if (l.includes("Scavenge")) (g.scav++, g.scavMs += pause);
    else if (l.includes("Mark-Compact")) (g.mc++, g.mcMs += pause);
    else if (l.includes("Mark-Sweep")) (g.ms++, g.msMs += pause);
  }
  return g;
}

/** The nodes' `snapshot_taken` lines (info level) logged between `from` and `to` (epoch ms). */
function snapshotsIn(from: number, to: number, run: number) {
  for (const id of ids) {
    let text = "";
    try {
      text = Deno.readTextFileSync(`${LOGS}/${id}.err`);
    } catch { /* not yet written */ }
    for (const line of text.split("\n")) {
      if (!line.includes("snapshot_")) continue;
      const e = JSON.parse(line), at = Date.parse(e.time);
      if (at >= from && at < to) {
        console.error(
          `run ${run} ${id}: ${e.event} at +${((at - from) / 1000).toFixed(1)} s${
            e.bytes ? ` ${(e.bytes / 2 ** 20).toFixed(0)} MB in ${e.ms} ms` : ""
          }`,
        );
      }
    }
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
console.error(`load before: ${load()}; checkout ${CHECKOUT}; logs ${LOGS}`);
const rates: number[] = [], servers: number[] = [];
/** Each run's measured phase in ms since the nodes were spawned, and the leader's index. */
const windows: [number, number, number][] = [];
/** The same phases in epoch ms (the nodes' log times). */
const epochs: [number, number][] = [];
try {
  const li = await leader();
  const L = urls[li];
  for (let run = 1; run <= RUNS; run++) {
    const queue = `bench-${TAG}-r${run}`;
    await call(L, "PUT", `/v1/queues/${queue}`, {});
    await singles(L, queue, SEQUENTIAL, 1, `${TAG}-r${run}-a`);
    await singles(L, queue, WINDOWED, 256, `${TAG}-r${run}-b`);
    await batches(L, queue, PREFILL, `${TAG}-r${run}-p`);
    await sleep(200);
    const pids = procs.map((p) => p.pid);
    if (values.profile) { for (const pid of pids) Deno.kill(pid, "SIGUSR1"); }
    const before = pids.map(cpuSeconds);
    const self0 = cpuSeconds("self");
    const t0 = performance.now(), epoch0 = Date.now();
    await batches(L, queue, COUNT, `${TAG}-r${run}`);
    const secs = (performance.now() - t0) / 1000;
    const after = pids.map(cpuSeconds);
    const self = cpuSeconds("self") - self0;
    if (values.profile) { for (const pid of pids) Deno.kill(pid, "SIGUSR2"); }
    const us = (s: number) => (s / COUNT * 1e6).toFixed(1);
    const cpu = after.map((a, i) => a - before[i]);
    const server = cpu.reduce((a, b) => a + b, 0);
    rates.push(COUNT / secs);
    servers.push(server / COUNT * 1e6);
    windows.push([t0 - spawnedAt, performance.now() - spawnedAt, li]);
    epochs.push([epoch0, Date.now()]);
    console.error(
      `run ${run}: ${(COUNT / secs).toFixed(0)} msgs/s, µs/msg ${
        cpu.map((c, i) => `${ids[i]}${i === li ? "*" : ""} ${us(c)}`).join(" ")
      } server ${us(server)} client ${us(self)}; load ${load()}`,
    );
    await call(L, "DELETE", `/v1/queues/${queue}`).catch(() => {});
  }
  console.log(JSON.stringify({
    runs: RUNS,
    count: COUNT,
    rates: rates.map(Math.round),
    medianRate: Math.round(median(rates)),
    server: servers.map((s) => Number(s.toFixed(1))),
    medianServer: Number(median(servers).toFixed(1)),
    loadAfter: load(),
  }));
} finally {
  for (const p of procs) {
    try {
      p.kill("SIGTERM");
    } catch { /* gone */ }
  }
  await Promise.all(procs.map((p) => p.status));
  await Promise.all(copies);
  epochs.forEach(([from, to], r) => snapshotsIn(from, to, r + 1));
  if (values["trace-gc"]) {
    const lines = ids.map((id) => Deno.readTextFileSync(`${LOGS}/${id}.out`).split("\n"));
    windows.forEach(([from, to, li], r) => {
      console.error(`run ${r + 1} gc: ${
        ids.map((id, i) => {
          const g = gcOf(lines[i], from, to);
          return `${id}${i === li ? "*" : ""} scavenges ${g.scav} (${
            g.scavMs.toFixed(0)
          } ms) mark-compacts ${g.mc} (${g.mcMs.toFixed(0)} ms)`;
        }).join(", ")
      }`);
    });
  }
  if (values["keep-data"]) console.error(`data kept in ${DATA}`);
  else await Deno.remove(DATA, { recursive: true }).catch(() => {});
}
