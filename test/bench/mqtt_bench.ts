/**
 * MQTT: quorumq's gateway (one node, fsync on: every acknowledged message is on disk) against
 * Debian's Mosquitto (one broker, persistence on: its in-memory state is written to disk on the
 * autosave interval and at shutdown, so an acknowledged message can be lost in a crash), in the
 * same run, driven by the same MQTT.js client in this process.
 *
 * - QoS 1 publish, 64 in flight: msgs/s and publish → PUBACK latency p50/p99.
 * - QoS 2 publish, 64 in flight: msgs/s and publish → PUBCOMP latency p50/p99.
 * - QoS 0 fan-out: one publisher, 10 subscribers on `fan/#`: deliveries/s and publish → delivery
 *   latency p50/p99.
 *
 * Each with the CPU time per message (deliveries for the fan-out) of the broker's process and of
 * this one (the client: it shows whether the client, not the broker, is what limits the rate).
 *
 * Median of `--runs` runs. Without `mosquitto` installed only quorumq is measured, saying why.
 *
 * Usage: deno run -A test/bench/mqtt_bench.ts [--runs 3] [--messages 5000] [--nodes 1]
 *   [--cases q1,q2,q0] [--only quorumq|mosquitto] [--main <node entry>] [--profile-client <dir>]
 *   [--client-nodelay]
 *
 * `--nodes 3` runs quorumq as a three-node cluster (the client on the leader: every message
 * replicated to a majority and fsync'd there before its PUBACK). `--main` picks the node entry
 * (`test/bench/profiled_main.ts` with `QQ_PROFILE_DIR` and `QQ_PROFILE_READY=0` profiles the
 * node under the load); `--profile-client` writes a CPU profile of this process (the MQTT.js
 * client) per broker into `<dir>`. `--client-nodelay` turns Nagle's algorithm off on the QoS 1/2
 * publisher's socket (MQTT.js leaves it on), for both brokers.
 *
 * @module
 */

import { Session } from "node:inspector";
import { parseArgs } from "node:util";
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { freePorts, sleep } from "../e2e/nodes.ts";
import { mqttNodes } from "../e2e/mqtt_client.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    messages: { type: "string", default: "5000" },
    nodes: { type: "string", default: "1" },
    cases: { type: "string", default: "q1,q2,q0" },
    only: { type: "string" },
    main: { type: "string" },
    "profile-client": { type: "string" },
    "client-nodelay": { type: "boolean", default: false },
  },
});
const CASES = new Set(values.cases.split(","));
const NODES = Number(values.nodes);
const RUNS = Number(values.runs);
const MESSAGES = Number(values.messages);
const IN_FLIGHT = 64;
const SUBSCRIBERS = 10;

interface Figures {
  rate: number;
  p50: number;
  p99: number;
  got?: number;
  /** CPU time per message (µs) of the broker's process and of this one (the MQTT.js client). */
  brokerUs: number;
  clientUs: number;
}

/** utime+stime of a process in microseconds (Linux /proc; clock ticks are 100 Hz here). */
function cpuUs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** Runs `fn` and adds the CPU per message of `pid` and of this process to its figures. */
async function withCpu(
  pid: number,
  fn: () => Promise<Omit<Figures, "brokerUs" | "clientUs">>,
  count: (f: Omit<Figures, "brokerUs" | "clientUs">) => number,
): Promise<Figures> {
  const b0 = cpuUs(pid), c0 = cpuUs(Deno.pid);
  const f = await fn();
  const n = Math.max(1, count(f));
  return { ...f, brokerUs: (cpuUs(pid) - b0) / n, clientUs: (cpuUs(Deno.pid) - c0) / n };
}

function pct(sorted: number[], p: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
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
): Promise<Omit<Figures, "brokerUs" | "clientUs">> {
  const pub = await client(port);
  // MQTT.js leaves Nagle's algorithm on: its PUBLISHes after the first wait for that one's TCP ACK.
  if (values["client-nodelay"]) {
    (pub.stream as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
  }
  const lat: number[] = [];
  let next = 0;
  const payload = "x".repeat(256);
  const start = performance.now();
  const worker = async () => {
    while (next < MESSAGES) {
      next++;
      const t0 = performance.now();
      await pub.publishAsync(`bench/${run}/q${qos}`, payload, { qos });
      lat.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const secs = (performance.now() - start) / 1000;
  await pub.endAsync();
  lat.sort((a, b) => a - b);
  return { rate: MESSAGES / secs, p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
}

async function qos0FanOut(
  port: number,
  run: number,
): Promise<Omit<Figures, "brokerUs" | "clientUs">> {
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

async function measure(name: string, port: number, pid: number): Promise<void> {
  const q1: Figures[] = [];
  const q2: Figures[] = [];
  const q0: Figures[] = [];
  const stopProfile = await profileClient(name);
  for (let r = 0; r < RUNS; r++) {
    const sent = () => MESSAGES;
    if (CASES.has("q1")) q1.push(await withCpu(pid, () => publishInFlight(port, r, 1), sent));
    if (CASES.has("q2")) q2.push(await withCpu(pid, () => publishInFlight(port, r, 2), sent));
    if (CASES.has("q0")) q0.push(await withCpu(pid, () => qos0FanOut(port, r), (f) => f.got!));
  }
  await stopProfile();
  const show = (label: string, fs: Figures[]) => {
    if (fs.length === 0) return;
    const got = fs[0].got === undefined
      ? ""
      : `, delivered ${fs.map((f) => f.got).join("/")} of ${MESSAGES * SUBSCRIBERS}`;
    console.log(
      `${name.padEnd(10)} ${label.padEnd(36)} ${
        Math.round(median(fs.map((f) => f.rate)))
      } msgs/s, ` +
        `p50 ${median(fs.map((f) => f.p50)).toFixed(2)} ms, p99 ${
          median(fs.map((f) => f.p99)).toFixed(2)
        } ms, CPU/msg broker ${Math.round(median(fs.map((f) => f.brokerUs)))} µs, client ${
          Math.round(median(fs.map((f) => f.clientUs)))
        } µs${got}`,
    );
  };
  show("QoS 1 publish, 64 in flight", q1);
  show("QoS 2 publish, 64 in flight", q2);
  show(`QoS 0 fan-out to ${SUBSCRIBERS} subscribers`, q0);
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

async function withMosquitto(fn: (port: number, pid: number) => Promise<void>): Promise<void> {
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
    await fn(port, proc.pid);
  } finally {
    proc.kill("SIGTERM");
    await proc.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const QUORUMQ = NODES === 1
  ? "quorumq: one node, fsync on (every PUBACK after the message is on disk)"
  : `quorumq: ${NODES} nodes, client on the leader, fsync on (every PUBACK after the message ` +
    "is on disk on a majority)";
console.log(
  `${MESSAGES} messages per run, median of ${RUNS}. ${QUORUMQ}. Mosquitto: one broker, ` +
    "persistence on (written at autosave and shutdown; an acknowledged message can be lost in a " +
    "crash).",
);
if (values.only !== "mosquitto") {
  const { nodes, mqttPort } = await mqttNodes({
    count: NODES,
    storage: "fsync",
    keepLogs: false,
    ...(values.main === undefined ? {} : { main: values.main }),
  });
  try {
    const leader = NODES === 1 ? "n1" : await nodes.waitLeader();
    await measure("quorumq", mqttPort(leader), nodes.pid(leader)!);
  } finally {
    await nodes.stop();
  }
}
if (values.only !== "quorumq") await withMosquitto((port, pid) => measure("mosquitto", port, pid));
