/**
 * MQTT: quorumq's gateway, as one node (fsync on: every acknowledged message is on disk) and as a
 * three-node cluster (the client on the leader: every acknowledged message replicated to a
 * majority and fsync'd there, the figure the speed target is judged on), against Debian's
 * Mosquitto (one broker, persistence on: its in-memory state is written to disk on the autosave
 * interval and at shutdown, so an acknowledged message can be lost in a crash), in the same run,
 * driven by the same MQTT.js client in this process, as MQTT.js sets it up by default (Nagle's
 * algorithm on; `--client-nodelay` turns it off).
 *
 * - QoS 1 publish, 64 in flight: msgs/s and publish → PUBACK latency p50/p99.
 * - QoS 2 publish, 64 in flight: msgs/s and publish → PUBCOMP latency p50/p99.
 * - QoS 0 fan-out: one publisher, 10 subscribers on `fan/#`: deliveries/s and publish → delivery
 *   latency p50/p99.
 *
 * Each with the CPU time per message (deliveries for the fan-out) of the broker's process (a
 * cluster: its leader, and all its nodes together) and of this one (the client: it shows whether
 * the client, not the broker, is what limits the rate), the share of the machine's cores those
 * processes kept busy (CPU per message × rate over the cores: what is left is idle or other
 * work's, so a low share says the rate is set by the round's latency, not by the CPU), and the
 * write and read system calls per 64 messages of the broker (a cluster's leader) and the client
 * (`/proc/<pid>/io` syscw and syscr; a Deno process's socket reads do not show in syscr, its
 * writes do).
 *
 * Median of `--runs` runs, after `--warmup` QoS 1 messages to each broker that are not measured
 * (30,000 by default; `--warmup 0` measures from a fresh start). The nodes are JIT-compiled: on a
 * fresh cluster their CPU per message falls by half over the first ~20,000–30,000 messages (V8
 * moves the per-message and then the per-entry code to its optimizing tiers, on its own threads),
 * so runs from a fresh start measured mostly that, and varied with how far it had got; the
 * client (MQTT.js) warms up the same way, and used to meet Mosquitto warmed by quorumq's runs.
 * Without `mosquitto` installed only quorumq is measured, saying why.
 *
 * Usage: deno run -A test/bench/mqtt_bench.ts [--runs 3] [--messages 20000] [--warmup 30000]
 *   [--nodes 1,3] [--cases q1,q2,q0] [--only quorumq|mosquitto] [--main <node entry>]
 *   [--profile-client <dir>] [--client-nodelay] [--no-memory-flags] [--v8-flags <flags>]
 *   [--malloc <tunables>] [--profile-nodes <dir>] [--beside <node entry>]
 *   [--beside-v8-flags <flags>] [--beside-malloc <tunables>] [--publishers 1]
 *
 * `--nodes` lists the cluster sizes quorumq runs as, one after another (default `1,3`; `--nodes 3`
 * for the cluster alone). `--main` picks the node entry
 * (`test/bench/profiled_main.ts` with `QQ_PROFILE_DIR` and `QQ_PROFILE_READY=0` profiles the
 * node under the load); `--profile-client` writes a CPU profile of this process (the MQTT.js
 * client) per broker into `<dir>`. `--client-nodelay` turns Nagle's algorithm off on the QoS 1/2
 * publisher's socket (MQTT.js leaves it on), for both brokers. `--no-memory-flags` starts the
 * nodes without the launch commands' V8 flags and allocator settings (src/server/memory.ts), to
 * measure what those cost; `--v8-flags` replaces their V8 flags only (`V8_FLAGS`; empty: V8's
 * defaults), to compare settings. `--profile-nodes` runs the nodes on
 * `test/bench/profiled_main.ts` and records each node's CPU profile over the QoS 1 runs only, one
 * file per node and cluster size in `<dir>` (summarize with `test/bench/profile_summary.ts`).
 * `--beside <node entry>` starts a second cluster of each size on that entry (another checkout's
 * `src/main.ts`) and drives the same QoS 1 load on both at the same time, run by run, so an A/B of
 * the CPU per message sees one machine load on both sides (alternating runs drift with the load
 * of a shared machine); no Mosquitto then, and neither the rates nor the client's CPU compare
 * (one client process drives both); it prints each run's rate and CPU per message of both.
 * `--beside-v8-flags` and `--beside-malloc` give the second cluster other V8 flags or another
 * `GLIBC_TUNABLES` than the first (`--v8-flags`, `--malloc`; default the launch commands'), so a
 * setting is compared side by side on the same code. `--publishers <n>` shares the QoS 1/2 window of 64 in flight
 * among n connections (the gateway keeps one batch in flight per connection, so n batches can be
 * in flight at once: a stand-in for a gateway that overlaps a connection's batches).
 *
 * @module
 */

import { Session } from "node:inspector";
import { parseArgs } from "node:util";
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { freePorts, sleep } from "../e2e/nodes.ts";
import { mqttNodes } from "../e2e/mqtt_client.ts";
import { cpuUs, entriesOf, median, pct, syscalls } from "./_mqtt_bench_figures.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    messages: { type: "string", default: "20000" },
    nodes: { type: "string", default: "1,3" },
    cases: { type: "string", default: "q1,q2,q0" },
    only: { type: "string" },
    main: { type: "string" },
    "profile-client": { type: "string" },
    "client-nodelay": { type: "boolean", default: false },
    "no-memory-flags": { type: "boolean", default: false },
    "v8-flags": { type: "string" },
    "beside-v8-flags": { type: "string" },
    malloc: { type: "string" },
    "beside-malloc": { type: "string" },
    warmup: { type: "string", default: "30000" },
    "profile-nodes": { type: "string" },
    beside: { type: "string" },
    publishers: { type: "string", default: "1" },
  },
});
const CASES = new Set(values.cases.split(","));
const NODE_COUNTS = values.nodes.split(",").map(Number);
const RUNS = Number(values.runs);
const MESSAGES = Number(values.messages);
const WARMUP = Number(values.warmup);
const IN_FLIGHT = 64;
/** QoS 1/2 publisher connections sharing the `IN_FLIGHT` window (`--publishers`). */
const PUBLISHERS = Number(values.publishers);
const SUBSCRIBERS = 10;

interface Figures {
  rate: number;
  p50: number;
  p99: number;
  got?: number;
  /** CPU time per message (µs) of the broker's process and of this one (the MQTT.js client). */
  brokerUs: number;
  /** A cluster: of all its nodes' processes together. */
  allUs: number;
  clientUs: number;
  /** quorumq: Raft entries its leader proposed per 64 messages (commit rounds per window). */
  entriesPer64?: number;
  /** Write and read system calls per 64 messages of the broker (a cluster's leader) and client. */
  brokerWrites: number;
  brokerReads: number;
  clientWrites: number;
  clientReads: number;
}

type Timed = Pick<Figures, "rate" | "p50" | "p99" | "got">;

/**
 * Runs `fn` and adds the CPU per message of `pids[0]` (the broker, a cluster's leader), of all
 * `pids` and of this process to its figures.
 */
async function withCpu(
  pids: readonly number[],
  fn: () => Promise<Timed>,
  count: (f: Timed) => number,
  entries?: () => Promise<number>,
): Promise<Figures> {
  const all = () => pids.reduce((sum, pid) => sum + cpuUs(pid), 0);
  const e0 = await entries?.();
  const b0 = cpuUs(pids[0]), a0 = all(), c0 = cpuUs(Deno.pid);
  const bs0 = syscalls(pids[0]), cs0 = syscalls(Deno.pid);
  const f = await fn();
  const n = Math.max(1, count(f));
  const bs1 = syscalls(pids[0]), cs1 = syscalls(Deno.pid);
  const cpu = {
    brokerUs: (cpuUs(pids[0]) - b0) / n,
    allUs: (all() - a0) / n,
    clientUs: (cpuUs(Deno.pid) - c0) / n,
    brokerWrites: (bs1.w - bs0.w) * 64 / n,
    brokerReads: (bs1.r - bs0.r) * 64 / n,
    clientWrites: (cs1.w - cs0.w) * 64 / n,
    clientReads: (cs1.r - cs0.r) * 64 / n,
  };
  const e1 = await entries?.();
  const per64 = e0 === undefined || e1 === undefined ? {} : { entriesPer64: (e1 - e0) * 64 / n };
  return { ...f, ...cpu, ...per64 };
}

async function client(port: number, clientId?: string): Promise<MqttClient> {
  return await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    ...(clientId ? { clientId, clean: true } : {}),
  });
}

async function publishInFlight(
  port: number,
  run: number,
  qos: 1 | 2,
  messages = MESSAGES,
): Promise<Timed> {
  const pubs = await Promise.all(Array.from({ length: PUBLISHERS }, () => client(port)));
  // MQTT.js leaves Nagle's algorithm on: its PUBLISHes after the first wait for that one's TCP ACK.
  if (values["client-nodelay"]) {
    for (const pub of pubs) {
      (pub.stream as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
    }
  }
  const lat: number[] = [];
  let next = 0;
  const payload = "x".repeat(256);
  const start = performance.now();
  const worker = async (w: number) => {
    const pub = pubs[w % pubs.length];
    while (next < messages) {
      next++;
      const t0 = performance.now();
      await pub.publishAsync(`bench/${run}/q${qos}`, payload, { qos });
      lat.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, (_, w) => worker(w)));
  const secs = (performance.now() - start) / 1000;
  await Promise.all(pubs.map((pub) => pub.endAsync()));
  lat.sort((a, b) => a - b);
  return { rate: messages / secs, p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
}

/** `--warmup <n>`: n QoS 1 messages before the measured runs, not measured (see the header). */
async function warmUp(port: number): Promise<void> {
  if (WARMUP > 0) await publishInFlight(port, -1, 1, WARMUP);
}

async function qos0FanOut(
  port: number,
  run: number,
): Promise<Timed> {
  const subs = await Promise.all(
    Array.from({ length: SUBSCRIBERS }, (_, i) => client(port, `fan-${run}-${i}`)),
  );
  const lat: number[] = [];
  let got = 0;
  for (const s of subs) {
    s.on("message", (_t, payload) => {
      got++;
      lat.push(performance.now() - Number(payload.toString()));
    });
    await s.subscribeAsync({ [`fan${run}/#`]: { qos: 0 } });
  }
  const pub = await client(port);
  const start = performance.now();
  for (let i = 0; i < MESSAGES; i++) {
    pub.publish(`fan${run}/t`, String(performance.now()), { qos: 0 });
    // Yield now and then so the socket drains and the subscribers' reads run.
    if (i % 64 === 63) await sleep(0);
  }
  const want = MESSAGES * SUBSCRIBERS;
  const end = Date.now() + 60_000;
  let last = -1, stillFor = 0;
  while (got < want && Date.now() < end && stillFor < 40) {
    await sleep(50);
    stillFor = got === last ? stillFor + 1 : 0;
    last = got;
  }
  const secs = (performance.now() - start) / 1000;
  await Promise.all([pub.endAsync(), ...subs.map((s) => s.endAsync())]);
  lat.sort((a, b) => a - b);
  return { rate: got / secs, p50: pct(lat, 0.5), p99: pct(lat, 0.99), got };
}

/** Runs the cases against the broker at `port`; `pids`: its process (a cluster's leader first). */
async function measure(
  name: string,
  port: number,
  pids: readonly number[],
  entries?: () => Promise<number>,
  profileNodes?: () => void,
): Promise<void> {
  const q1: Figures[] = [];
  const q2: Figures[] = [];
  const q0: Figures[] = [];
  await warmUp(port);
  const stopProfile = await profileClient(name.replace(/ /g, "-"));
  for (let r = 0; r < RUNS; r++) {
    const sent = () => MESSAGES;
    if (CASES.has("q1")) {
      // The nodes' profiles (`--profile-nodes`) cover the QoS 1 runs: on at the first, off after the last.
      if (r === 0) profileNodes?.();
      q1.push(await withCpu(pids, () => publishInFlight(port, r, 1), sent, entries));
      if (r === RUNS - 1) profileNodes?.();
    }
    if (CASES.has("q2")) {
      q2.push(await withCpu(pids, () => publishInFlight(port, r, 2), sent, entries));
    }
    if (CASES.has("q0")) q0.push(await withCpu(pids, () => qos0FanOut(port, r), (f) => f.got!));
  }
  await stopProfile();
  show(name, pids.length, "QoS 1 publish, 64 in flight", q1);
  show(name, pids.length, "QoS 2 publish, 64 in flight", q2);
  show(name, pids.length, `QoS 0 fan-out to ${SUBSCRIBERS} subscribers`, q0);
}

/** Prints the medians of `fs` (the runs of one case against one broker). */
function show(name: string, nodes: number, label: string, fs: Figures[]): void {
  if (fs.length === 0) return;
  const got = fs[0].got === undefined
    ? ""
    : `, delivered ${fs.map((f) => f.got).join("/")} of ${MESSAGES * SUBSCRIBERS}`;
  const cpu = (f: (x: Figures) => number) => Math.round(median(fs.map(f)));
  const all = nodes > 1 ? `, all ${nodes} nodes ${cpu((x) => x.allUs)} µs` : "";
  const rounds = fs[0].entriesPer64 === undefined
    ? ""
    : `, ${median(fs.map((x) => x.entriesPer64!)).toFixed(1)} entries per 64`;
  // The share of the machine's cores the broker's processes and the client kept busy.
  const busy = median(fs.map((x) => (x.allUs + x.clientUs) * x.rate / 1e6)) /
    navigator.hardwareConcurrency;
  const per64 = (f: (x: Figures) => number) => median(fs.map(f)).toFixed(1);
  console.log(
    `${name.padEnd(12)} ${label.padEnd(36)} ${Math.round(median(fs.map((f) => f.rate)))} msgs/s, ` +
      `p50 ${median(fs.map((f) => f.p50)).toFixed(2)} ms, p99 ${
        median(fs.map((f) => f.p99)).toFixed(2)
      } ms, CPU/msg broker ${cpu((x) => x.brokerUs)} µs${all}, client ${
        cpu((x) => x.clientUs)
      } µs${rounds}${got}; cores busy ${(busy * 100).toFixed(0)}%; per 64 writes/reads broker ${
        per64((x) => x.brokerWrites)
      }/${per64((x) => x.brokerReads)}, client ${per64((x) => x.clientWrites)}/${
        per64((x) => x.clientReads)
      }`,
  );
}

/** A cluster under measurement: its leader's MQTT port, its processes (leader first), entries. */
interface Cluster {
  readonly name: string;
  readonly port: number;
  readonly pids: readonly number[];
  readonly entries: () => Promise<number>;
}

/**
 * `--beside`: QoS 1 runs on two clusters at the same time (this checkout's and another node
 * entry's), so both see the same machine load; each cluster's CPU per message is read over the
 * same stretch. The rates are not comparable (one client process drives both), nor is the
 * client's CPU (it serves both).
 */
async function measureBeside(a: Cluster, b: Cluster): Promise<void> {
  const qa: Figures[] = [];
  const qb: Figures[] = [];
  const sent = () => MESSAGES;
  await Promise.all([warmUp(a.port), warmUp(b.port)]);
  for (let r = 0; r < RUNS; r++) {
    const [fa, fb] = await Promise.all([
      withCpu(a.pids, () => publishInFlight(a.port, r, 1), sent, a.entries),
      withCpu(b.pids, () => publishInFlight(b.port, r, 1), sent, b.entries),
    ]);
    qa.push(fa);
    qb.push(fb);
    const us = (f: Figures) =>
      `${Math.round(f.rate)} msgs/s, leader ${Math.round(f.brokerUs)} all ${
        Math.round(f.allUs)
      } µs`;
    console.log(`  run ${r}: ${a.name} ${us(fa)}; ${b.name} ${us(fb)}`);
  }
  show(a.name, a.pids.length, "QoS 1 publish, 64 in flight", qa);
  show(b.name, b.pids.length, "QoS 1 publish, 64 in flight", qb);
}

/** With `--profile-client`: profiles this process until the returned function is called. */
async function profileClient(name: string): Promise<() => Promise<void>> {
  const dir = values["profile-client"];
  if (dir === undefined) return async () => {};
  const session = new Session();
  session.connect();
  const post = <T>(method: string) =>
    new Promise<T>((resolve, reject) =>
      session.post(method, (err: Error | null, r: unknown) => err ? reject(err) : resolve(r as T))
    );
  await post("Profiler.enable");
  await post("Profiler.start");
  return async () => {
    const { profile } = await post<{ profile: unknown }>("Profiler.stop");
    await Deno.writeTextFile(`${dir}/client-${name}.cpuprofile`, JSON.stringify(profile));
    session.disconnect();
  };
}

async function withMosquitto(
  fn: (port: number, pids: readonly number[]) => Promise<void>,
): Promise<void> {
  const found = await new Deno.Command("sh", { args: ["-c", "command -v mosquitto"] }).output();
  if (!found.success) {
    console.log("mosquitto: skipped, not installed (apt-get install mosquitto)");
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "mosquitto-bench-" });
  const [port] = freePorts(1);
  await Deno.writeTextFile(
    `${dir}/mosquitto.conf`,
    [
      `listener ${port} 127.0.0.1`,
      "allow_anonymous true",
      "persistence true",
      `persistence_location ${dir}/`,
      "max_inflight_messages 64",
      "max_queued_messages 1000000",
    ].join("\n") + "\n",
  );
  const proc = new Deno.Command("mosquitto", {
    args: ["-c", `${dir}/mosquitto.conf`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    for (let i = 0; i < 100; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        break;
      } catch {
        await sleep(50);
      }
    }
    await fn(port, [proc.pid]);
  } finally {
    proc.kill("SIGTERM");
    await proc.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** What a PUBACK means with `nodes` nodes. */
const durability = (nodes: number) =>
  nodes === 1
    ? "1 node: fsync on (every PUBACK after the message is on disk)"
    : `${nodes} nodes: client on the leader, fsync on (every PUBACK after the message is on ` +
      "disk on a majority)";
console.log(
  `${MESSAGES} messages per run, median of ${RUNS}, after ${WARMUP} QoS 1 messages to warm each ` +
    `broker up. quorumq ${
      NODE_COUNTS.map(durability).join("; ")
    }. Mosquitto: one broker, persistence on (written at autosave and shutdown; an acknowledged ` +
    `message can be lost in a crash). Client: MQTT.js in this process, ${
      values["client-nodelay"]
        ? "Nagle off on the publisher (--client-nodelay)"
        : "as set up by default (Nagle on)"
    }.${
      values.beside === undefined
        ? ""
        : ` Beside it: ${values.beside}, QoS 1 at the same time (CPU per message only).`
    }`,
);
const profileDir = values["profile-nodes"];
if (profileDir !== undefined) {
  Deno.env.set("QQ_PROFILE_DIR", profileDir);
  Deno.env.set("QQ_PROFILE_ON", "signal");
}
const main = profileDir !== undefined
  ? new URL("./profiled_main.ts", import.meta.url).pathname
  : values.main;
/** Nodes of a cluster of `count` on the node entry `entry` (this checkout's when undefined). */
const clusterNodes = (
  count: number,
  entry: string | undefined,
  v8Flags = values["v8-flags"],
  malloc = values.malloc,
) =>
  mqttNodes({
    count,
    storage: "fsync",
    keepLogs: false,
    memoryFlags: !values["no-memory-flags"],
    ...(v8Flags !== undefined ? { v8Flags } : {}),
    ...(entry === undefined ? {} : { main: entry }),
    ...(malloc === undefined ? {} : { env: () => ({ GLIBC_TUNABLES: malloc }) }),
  });

/** A started cluster as `measureBeside` reads it. */
async function clusterOf(
  name: string,
  c: Awaited<ReturnType<typeof clusterNodes>>,
): Promise<Cluster> {
  const leader = c.nodes.ids.length === 1 ? "n1" : await c.nodes.waitLeader();
  const pids = [leader, ...c.nodes.ids.filter((id) => id !== leader)].map((id) => c.nodes.pid(id)!);
  const url = c.nodes.url(leader);
  return { name, port: c.mqttPort(leader), pids, entries: () => entriesOf(url) };
}

const beside = values.beside;
if (beside !== undefined) {
  // Side by side: QoS 1 only, each cluster size, no Mosquitto (see `measureBeside`).
  for (const count of NODE_COUNTS) {
    const a = await clusterNodes(count, main);
    try {
      const b = await clusterNodes(
        count,
        beside,
        values["beside-v8-flags"] ?? values["v8-flags"],
        values["beside-malloc"] ?? values.malloc,
      );
      try {
        await measureBeside(
          await clusterOf(`quorumq ${count}n`, a),
          await clusterOf(`beside ${count}n`, b),
        );
      } finally {
        await b.nodes.stop();
      }
    } finally {
      await a.nodes.stop();
    }
  }
} else if (values.only !== "mosquitto") {
  for (const count of NODE_COUNTS) {
    const { nodes, mqttPort } = await clusterNodes(count, main);
    try {
      const leader = count === 1 ? "n1" : await nodes.waitLeader();
      const pids = [leader, ...nodes.ids.filter((id) => id !== leader)].map((id) => nodes.pid(id)!);
      const entries = () => entriesOf(nodes.url(leader));
      // profiled_main.ts: each SIGUSR2 starts or ends (and writes) a node's profile.
      const signal = () => pids.forEach((pid) => Deno.kill(pid, "SIGUSR2"));
      const profile = profileDir === undefined ? undefined : signal;
      await measure(`quorumq ${count}n`, mqttPort(leader), pids, entries, profile);
      // Time for the nodes to write their profiles before they are stopped.
      if (profile !== undefined) await sleep(2000);
    } finally {
      await nodes.stop();
    }
  }
}
if (values.only !== "quorumq" && beside === undefined) {
  await withMosquitto((port, pids) => measure("mosquitto", port, pids));
}
