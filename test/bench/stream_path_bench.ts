/**
 * The node's request path alone, without Raft: the app over one in-process `LocalNode` (each
 * write applied at once), served by `Deno.serve` on loopback, 256 publishes of 256 bytes in
 * flight from a client in this same process, on the stream and over HTTP. Prints the CPU of this
 * process (node and client together) per message and msgs/s, per round and the medians; for
 * comparing two versions of the request path (stream frames, the app, answers) without a
 * cluster's noise. Rounds alternate the transports.
 *
 * Usage: deno run -A test/bench/stream_path_bench.ts [--rounds 5] [--count 20000]
 *   [--transports stream,http]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createApp } from "../../src/http/mod.ts";
import { LocalNode } from "../../src/http/testing/local_node.ts";
import { silentLogger } from "../../src/log.ts";
import { StreamConnection } from "../../src/client/mod.ts";
import { cpuSeconds } from "./_cpu.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    count: { type: "string", default: "20000" },
    transports: { type: "string", default: "stream,http" },
  },
});
const ROUNDS = Number(values.rounds);
const COUNT = Number(values.count);
const LANES = 256;
const BODY = JSON.stringify({ body: "x".repeat(256) });

async function lanes(count: number, send: () => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: LANES }, async () => {
    while (next++ < count) await send();
  }));
}

const node = new LocalNode();
const app = createApp({ node, log: silentLogger });
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  (request) => app.fetch(request),
);
const url = `http://127.0.0.1:${server.addr.port}`;
const stream = await StreamConnection.open(url);
await stream.request("PUT", "/v1/queues/q", {}, "{}");

const sends: Record<string, () => Promise<void>> = {
  stream: async () => {
    const res = await stream.request("POST", "/v1/queues/q/messages", {}, BODY);
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`publish: ${res.status}`);
  },
  http: async () => {
    const res = await fetch(`${url}/v1/queues/q/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: BODY,
    });
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`publish: ${res.status}`);
  },
};

const out: Record<string, number[]> = {};
const add = (k: string, v: number) => (out[k] ??= []).push(v);
console.error(`load average before: ${Deno.loadavg()[0].toFixed(2)}`);
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of values.transports.split(",")) {
      await lanes(2000, sends[kind]);
      node.proposals.length = 0;
      const c0 = cpuSeconds();
      const t0 = performance.now();
      await lanes(COUNT, sends[kind]);
      const seconds = (performance.now() - t0) / 1000;
      const us = (cpuSeconds() - c0) / COUNT * 1e6;
      node.proposals.length = 0;
      add(`${kind} µs/msg`, us);
      add(`${kind} msgs/s`, COUNT / seconds);
      console.error(
        `round ${round + 1} ${kind}: ${us.toFixed(1)} µs/msg, ${
          (COUNT / seconds).toFixed(0)
        } msgs/s`,
      );
    }
  }
} finally {
  await stream.close();
  await server.shutdown();
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(JSON.stringify({
  rounds: ROUNDS,
  count: COUNT,
  medians: Object.fromEntries(
    Object.entries(out).map(([k, v]) => [k, Number(median(v).toFixed(1))]),
  ),
  loadAfter: Deno.loadavg()[0].toFixed(2),
}));
