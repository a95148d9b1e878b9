/**
 * What idle MQTT connections cost a node: one node with MQTT on (storage in memory, so no fsync
 * of the CONNECTs' claims muddies the rounds), `--connections` raw TCP clients each connected with
 * a keep-alive of `--keepalive` seconds and then silent (no PINGREQ is due within the rounds when
 * the keep-alive is long). With `--subscribe` each first subscribes to a topic of its own at QoS
 * 1, so its session's receives long-poll. Measured: the node's CPU (user + system, all threads,
 * from `/proc`) per second over `--seconds`, `--rounds` times, and its RSS after each round. With
 * `--base <dir>` a second node runs from that checkout with as many connections at the same time,
 * measured over the same windows (the same machine load; the load average is printed with each
 * round). `--v8-flags` replaces the nodes' `V8_FLAGS` (empty: V8's defaults, as the peers kit
 * starts them). With `--http`, instead of MQTT clients, `--connections` HTTP consumers each
 * long-poll a queue of their own in a loop (`waitMs` 5 s, as the MQTT gateway's QoS 1 loops do).
 * Each round also prints the Raft entries per second the node applied (its applied index).
 * `--nodes 3` runs each side as a three-node cluster (the clients all on n1, the CPU of all three
 * nodes summed), `--fsync` with storage on disk (fsync on) instead of in memory.
 *
 * Usage: deno run -A test/bench/mqtt_idle_bench.ts [--connections 1000] [--keepalive 600]
 *   [--rounds 6] [--seconds 10] [--base dir] [--v8-flags flags] [--subscribe] [--http]
 *   [--nodes 1|3] [--fsync]
 *
 * @module
 */

import { parseArgs } from "node:util";
import mqttPacket from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { mqttNodes } from "../e2e/mqtt_client.ts";
import { type Nodes, sleep } from "../e2e/nodes.ts";
import { cpuSeconds } from "./_cpu.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    connections: { type: "string", default: "1000" },
    keepalive: { type: "string", default: "600" },
    rounds: { type: "string", default: "6" },
    seconds: { type: "string", default: "10" },
    base: { type: "string" },
    "v8-flags": { type: "string" },
    subscribe: { type: "boolean", default: false },
    http: { type: "boolean", default: false },
    nodes: { type: "string", default: "1" },
    fsync: { type: "boolean", default: false },
  },
});
const CONNECTIONS = Number(values.connections);
const KEEPALIVE = Number(values.keepalive);
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const HERE = new URL("../..", import.meta.url).pathname;

/** Resident memory of process `pid`, in MB (`VmRSS` of `/proc/<pid>/status`). */
function rssMb(pid: number): number {
  const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/VmRSS:\s+(\d+) kB/);
  return m === null ? NaN : Number(m[1]) / 1024;
}

const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A raw client: CONNECT, then the CONNACK read; the socket is held, silent. */
async function idleClient(port: number, clientId: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const connect = { cmd: "connect", protocolVersion: 4, clientId, clean: true };
  await conn.write(mqttPacket.generate({ ...connect, keepalive: KEEPALIVE } as Packet));
  const buf = new Uint8Array(16);
  const n = await conn.read(buf); // CONNACK: 4 bytes, return code 0
  if (n === null || buf[0] !== 0x20 || buf[3] !== 0) throw new Error(`${clientId}: not accepted`);
  if (!values.subscribe) return conn;
  const subscriptions = [{ topic: `idle/${clientId}`, qos: 1 }];
  await conn.write(
    mqttPacket.generate({ cmd: "subscribe", messageId: 1, subscriptions } as Packet),
  );
  const ack = new Uint8Array(16);
  const m = await conn.read(ack); // SUBACK: 5 bytes, granted QoS 1
  if (m === null || ack[0] !== 0x90 || ack[4] !== 1) throw new Error(`${clientId}: not subscribed`);
  return conn;
}

/** The node's applied Raft index (`/metrics`). */
async function appliedIndex(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = text.match(/^quorumq_raft_applied_index\{[^}]*\} (\d+)/m);
  return m === null ? NaN : Number(m[1]);
}

/** HTTP long-poll loops, one queue each, until `stop` (each ends within its `waitMs`). */
async function httpPollers(url: string, name: string, stop: AbortSignal): Promise<Promise<void>[]> {
  const json = { "content-type": "application/json" };
  const queues = Array.from({ length: CONNECTIONS }, (_, k) => `${name}-idle-${k}`);
  for (let i = 0; i < queues.length; i += 50) {
    await Promise.all(
      queues.slice(i, i + 50).map(async (q) => {
        const res = await fetch(`${url}/v1/queues/${q}`, {
          method: "PUT",
          headers: json,
          body: "{}",
        });
        await res.body?.cancel();
      }),
    );
  }
  return queues.map(async (q) => {
    for (let n = 0; n < 1_000_000 && !stop.aborted; n++) {
      const res = await fetch(`${url}/v1/queues/${q}/receive`, {
        method: "POST",
        headers: json,
        body: JSON.stringify({ waitMs: 5_000 }),
      }).catch(() => undefined);
      await res?.body?.cancel();
    }
  });
}

async function node(checkout: string) {
  const { nodes, mqttPort } = await mqttNodes({
    count: Number(values.nodes),
    storage: values.fsync ? "fsync" : "memory",
    keepLogs: false,
    main: `${checkout}/src/main.ts`,
    ...(values["v8-flags"] !== undefined ? { v8Flags: values["v8-flags"] } : {}),
  });
  await nodes.waitLeader();
  const pids = nodes.ids.map((id) => nodes.pid(id)!);
  return { nodes, port: mqttPort("n1"), pid: pids[0], pids, url: nodes.url("n1") };
}

const held: Deno.TcpConn[] = [];
const sides: {
  name: string;
  nodes: Nodes;
  port: number;
  pid: number;
  pids: number[];
  url: string;
}[] = [];
/** CPU seconds of all of a side's nodes. */
const sideCpu = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
const stopPolls = new AbortController();
const polls: Promise<void>[] = [];
try {
  sides.push({ name: "this", ...await node(HERE) });
  if (values.base) sides.push({ name: "base", ...await node(values.base) });
  for (const { name, port, url } of sides) {
    if (values.http) {
      polls.push(...await httpPollers(url, name, stopPolls.signal));
      continue;
    }
    for (let i = 0; i < CONNECTIONS; i += 50) {
      const ids = Array.from({ length: Math.min(50, CONNECTIONS - i) }, (_, k) => i + k);
      held.push(...await Promise.all(ids.map((k) => idleClient(port, `${name}-idle-${k}`))));
    }
  }
  await sleep(3000); // the CONNECTs' entries and compilation settle
  const out: Record<string, number[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    const before = sides.map((s) => sideCpu(s.pids));
    const entriesBefore = await Promise.all(sides.map((s) => appliedIndex(s.url)));
    const t0 = performance.now();
    await sleep(SECONDS * 1000);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = sides.map(({ pids }, s) => (sideCpu(pids) - before[s]) * 1000 / seconds);
    const entriesAfter = await Promise.all(sides.map((s) => appliedIndex(s.url)));
    const line = sides.map(({ name, pid }, s) => {
      const perS = (entriesAfter[s] - entriesBefore[s]) / seconds;
      (out[`${name} ms/s`] ??= []).push(cpu[s]);
      (out[`${name} entries/s`] ??= []).push(perS);
      return `${name} ${cpu[s].toFixed(1)} ms/s, ${perS.toFixed(1)} entries/s ` +
        `(RSS ${rssMb(pid).toFixed(0)} MB)`;
    });
    console.error(`round ${round + 1} (load ${load()}): ${line.join(", ")} (CPU per second)`);
  }
  const medians = Object.fromEntries(
    Object.entries(out).map(([k, v]) => [k, Number(median(v).toFixed(1))]),
  );
  console.log(
    JSON.stringify({ connections: CONNECTIONS, rounds: ROUNDS, seconds: SECONDS, medians }),
  );
} finally {
  for (const c of held) c.close();
  stopPolls.abort();
  await Promise.all(polls);
  await Promise.all(sides.map(({ nodes }) => nodes.stop()));
}
