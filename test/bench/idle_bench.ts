/**
 * What a node costs at rest: three real nodes (fsync on, loopback) with a leader and nothing to
 * do, each node's CPU (user + system, all threads, from `/proc`) per second over `--seconds`,
 * measured `--rounds` times. With `--base <dir>` a second cluster runs from that checkout at the
 * same time, measured over the same windows, so the two are compared under the same machine load
 * (the load average is printed with each round). `--v8-flags` replaces the nodes' `V8_FLAGS`
 * (empty: V8's defaults, as the peers kit starts them).
 *
 * A node's timers are what it does at rest: Raft's 50 ms tick and the leader's heartbeats, each
 * link's 250 ms keepalive, the leader's timed-event check, the idle collector, the event-loop
 * probe (src/server/loop_monitor.ts). `/proc` counts CPU in scheduler ticks (10 ms), so a
 * round needs several seconds to tell milliseconds per second apart.
 *
 * With `--clients`, the nodes listen for MQTT too, and each cluster's leader has one idle MQTT
 * client (keep-alive 60 s) and one idle stream (the project's client, which pings) connected.
 * With `--burst n`, n messages are published to each cluster's leader (the project's client, 64
 * in flight) before the rounds: does anything keep ticking after load?
 *
 * Usage: deno run -A test/bench/idle_bench.ts [--rounds 6] [--seconds 10] [--base dir]
 *   [--v8-flags flags] [--clients] [--burst n]
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { MqttClient } from "mqtt";
import { Client, StreamConnection } from "../../src/client/mod.ts";
import { connect, mqttNodes } from "../e2e/mqtt_client.ts";
import { Nodes, sleep } from "../e2e/nodes.ts";
import { cpuSeconds } from "./_cpu.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "6" },
    seconds: { type: "string", default: "10" },
    base: { type: "string" },
    "v8-flags": { type: "string" },
    clients: { type: "boolean", default: false },
    burst: { type: "string", default: "0" },
  },
});
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const HERE = new URL("../..", import.meta.url).pathname;

const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const BURST = Number(values.burst);
const held: { close(): unknown }[] = [];

async function cluster(
  checkout: string,
): Promise<{ nodes: Nodes; mqttPort?: (id: string) => number }> {
  const opts = {
    count: 3,
    storage: "fsync" as const,
    keepLogs: false,
    main: `${checkout}/src/main.ts`,
    ...(values["v8-flags"] !== undefined ? { v8Flags: values["v8-flags"] } : {}),
  };
  return values.clients ? await mqttNodes(opts) : { nodes: await Nodes.start(opts) };
}

/** The idle clients and the burst of `--clients` and `--burst` on one cluster's leader. */
async function prepare(nodes: Nodes, leader: string, mqttPort?: (id: string) => number) {
  const url = nodes.url(leader);
  if (mqttPort !== undefined) {
    const mqttClient: MqttClient = await connect(mqttPort(leader), { keepalive: 60 });
    held.push({ close: () => mqttClient.endAsync() }, await StreamConnection.open(url));
  }
  if (BURST === 0) return;
  const stream = await StreamConnection.open(url);
  await (await stream.request("PUT", "/v1/queues/burst", {}, "{}")).arrayBuffer();
  await stream.close();
  const client = new Client({ nodes: [url] });
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < BURST; i = next++) {
      await client.publish("burst", { id: `b-${i}`, body: "x".repeat(256) });
    }
  };
  await Promise.all(Array.from({ length: 64 }, lane));
  await client.close?.();
}

const sides: { name: string; nodes: Nodes; mqttPort?: (id: string) => number }[] = [
  { name: "this", ...await cluster(HERE) },
];
try {
  if (values.base) sides.push({ name: "base", ...await cluster(values.base) });
  const roles = await Promise.all(sides.map(async ({ nodes, mqttPort }) => {
    const leader = await nodes.waitLeader();
    await prepare(nodes, leader, mqttPort);
    return [leader, ...nodes.ids.filter((id) => id !== leader)].map((id) => nodes.pid(id)!);
  }));
  await sleep(3000); // start-up's compilation and first collections settle
  const out: Record<string, number[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    const before = roles.map((pids) => pids.map(cpuSeconds));
    const t0 = performance.now();
    await sleep(SECONDS * 1000);
    const seconds = (performance.now() - t0) / 1000;
    const line: string[] = [];
    sides.forEach(({ name }, s) => {
      const ms = roles[s].map((pid, i) => (cpuSeconds(pid) - before[s][i]) * 1000 / seconds);
      (out[`${name} leader ms/s`] ??= []).push(ms[0]);
      (out[`${name} follower ms/s`] ??= []).push((ms[1] + ms[2]) / 2);
      line.push(
        `${name}: leader ${ms[0].toFixed(1)} followers ${ms[1].toFixed(1)} ${ms[2].toFixed(1)}`,
      );
    });
    console.error(`round ${round + 1} (load ${load()}): ${line.join("; ")} ms of CPU per second`);
  }
  const medians = Object.fromEntries(
    Object.entries(out).map(([k, v]) => [k, Number(median(v).toFixed(1))]),
  );
  console.log(JSON.stringify({ rounds: ROUNDS, seconds: SECONDS, medians, loadAfter: load() }));
} finally {
  await Promise.all(held.map((h) => h.close()));
  await Promise.all(sides.map(({ nodes }) => nodes.stop()));
}
