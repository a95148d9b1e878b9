/**
 * What the `mqtt` topic holds after a steady MQTT stream that a connected persistent session
 * consumes: `--messages` QoS 1 PUBLISHes of `--bytes` bytes (64 in flight) to a three-node
 * cluster, one subscriber (clean session 0, QoS 1 on `mem/#`) that PUBACKs each (MQTT.js does),
 * then, once it has them all and its acks are applied, each node's `GET /v1/topics/mqtt`
 * (messages, bytes), RSS (`/proc/<pid>/status`), heap used and external memory (`/metrics`, after
 * a quiet moment in which each node's idle collector runs a full collection).
 * `--main` runs another checkout's node entry (the code before a change).
 *
 * Usage: deno run -A test/bench/mqtt_topic_memory.ts [--messages 100000] [--bytes 256]
 *   [--nodes 3] [--main <node entry>]
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { MqttClient } from "mqtt";
import { sleep } from "../e2e/nodes.ts";
import { connect, mqttNodes } from "../e2e/mqtt_client.ts";

const { values: args } = parseArgs({
  options: {
    messages: { type: "string", default: "100000" },
    bytes: { type: "string", default: "256" },
    nodes: { type: "string", default: "3" },
    main: { type: "string" },
  },
});
const N = Number(args.messages);
const BYTES = Number(args.bytes);
const COUNT = Number(args.nodes);
const IN_FLIGHT = 64;

/** A node's heap in use and external memory (bodies' slabs, columns), from its metrics, in MB. */
async function memoryMb(url: string): Promise<{ heap: number; external: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const of = (kind: string) =>
    Number(
      new RegExp(`quorumq_process_memory_bytes\\{[^}]*kind="${kind}"[^}]*\\} (\\S+)`)
        .exec(text)?.[1] ?? NaN,
    ) / 2 ** 20;
  return { heap: of("heap_used"), external: of("external") };
}

/** The bytes of the files under `dir` whose name says snapshot (the node's saved snapshots). */
function snapshotMb(dir: string): number {
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      const path = `${d}/${e.name}`;
      if (e.isDirectory) walk(path);
      else if (/snap/i.test(e.name)) bytes += Deno.statSync(path).size;
    }
  };
  walk(dir);
  return bytes / 2 ** 20;
}

function rssMb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** Publishes `n` QoS 1 messages with `IN_FLIGHT` awaiting their PUBACK. */
async function publishAll(pub: MqttClient, n: number): Promise<void> {
  const payload = "x".repeat(BYTES);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await pub.publishAsync(`mem/${i % 16}/v`, payload, { qos: 1 });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

const { nodes, mqttPort } = await mqttNodes({
  count: COUNT,
  ...(args.main === undefined ? {} : { main: args.main }),
});
try {
  const id = nodes.ids[0];
  const sub = await connect(mqttPort(id), { clientId: "mem-sub", clean: false });
  let received = 0;
  sub.on("message", () => received++);
  await sub.subscribeAsync("mem/#", { qos: 1 });
  const pub = await connect(mqttPort(id), { clientId: "mem-pub" });
  const t0 = performance.now();
  await publishAll(pub, N);
  const pubS = (performance.now() - t0) / 1000;
  for (let i = 0; i < 600 && received < N; i++) await sleep(100);
  // The subscriber's last PUBACKs become acks in the log: wait for its subscription to be empty
  // on every node (bounded), then a quiet moment (the nodes' idle collector runs).
  const infoOf = async (n: string, path: string) =>
    await (await nodes.fetch(`${nodes.url(n)}/v1/topics/mqtt${path}?consistency=stale`)).json();
  const q1 = "subscriptions/" +
    (await infoOf(id, "")).subscriptions.find((s: string) => s.endsWith("-q1"));
  for (let i = 0; i < 100; i++) {
    const stats = await Promise.all(nodes.ids.map(async (n) => await infoOf(n, `/${q1}`)));
    if (stats.every((s) => s.ready === 0 && s.leased === 0 && s.delayed === 0)) break;
    await sleep(200);
  }
  await sleep(10_000); // quiet: each node's idle collector runs a full collection
  const infos = await Promise.all(nodes.ids.map((n) => infoOf(n, "")));
  console.log(
    `published ${N} × ${BYTES} B in ${pubS.toFixed(1)} s; the subscriber received ${received}`,
  );
  const mem = await Promise.all(nodes.ids.map((n) => memoryMb(nodes.url(n))));
  for (const [i, n] of nodes.ids.entries()) {
    const t = infos[i];
    console.log(
      `${n}: topic mqtt messages ${t.messages}, bytes ${t.bytes}, published ${t.published}; ` +
        `RSS ${rssMb(nodes.pid(n)).toFixed(0)} MB, heap used ${mem[i].heap.toFixed(1)} MB, ` +
        `external ${mem[i].external.toFixed(1)} MB, snapshot files ` +
        `${snapshotMb(nodes.nodeDataDir(n)).toFixed(1)} MB`,
    );
  }
  await pub.endAsync();
  await sub.endAsync();
} finally {
  await nodes.stop();
}
