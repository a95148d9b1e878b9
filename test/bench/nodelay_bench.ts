/**
 * `Client.publish` with 1, 8 and 64 calls in flight (`--lanes`) on the stream, dialed by Deno's
 * `WebSocket` (which clears TCP_NODELAY on the sockets it dials: the client's default in Deno
 * before session 14) and by the client's default in Deno now (`src/client/deno/mod.ts`, TCP_NODELAY
 * set), on three fsync nodes, alternating: msgs/s, p50, p99 and the worst call.
 *
 * Usage: deno run -A test/bench/nodelay_bench.ts [--rounds 3] [--count 1500] [--lanes 1,8,64]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes } from "../e2e/nodes.ts";
import { Client, type StreamSocket } from "../../src/client/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    count: { type: "string", default: "1500" },
    lanes: { type: "string", default: "1,8,64" },
  },
});
const LANES = values.lanes.split(",").map(Number);
const webSocket = (url: string) => new WebSocket(url) as unknown as StreamSocket;
const COUNT = Number(values.count);

console.error(`load average before: ${Deno.loadavg()[0].toFixed(2)}`);
const nodes = await Nodes.start({ count: 3, storage: "fsync", keepLogs: false });
try {
  const url = nodes.url(await nodes.waitLeader());
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [name, dial] of [["WebSocket", webSocket], ["default", undefined]] as const) {
      const client = new Client({ nodes: [url], ...(dial ? { dial } : {}) });
      const q = `nd-${name}-${round}`;
      await client.createQueue(q);
      for (const lanes of LANES) {
        for (let i = 0; i < 100; i++) await client.publish(q, { body: "warm-up" });
        const times: number[] = [];
        let next = 0;
        const t0 = performance.now();
        await Promise.all(Array.from({ length: lanes }, async () => {
          while (next++ < COUNT) {
            const s = performance.now();
            await client.publish(q, { body: "x".repeat(256) });
            times.push(performance.now() - s);
          }
        }));
        const rate = COUNT / (performance.now() - t0) * 1000;
        times.sort((a, b) => a - b);
        const at = (f: number) => times[Math.floor(f * (times.length - 1))].toFixed(2);
        console.log(
          `round ${round + 1} ${name} ${lanes} in flight: ${rate.toFixed(0)} msgs/s, ` +
            `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`,
        );
      }
      await client.close();
    }
  }
} finally {
  await nodes.stop();
}
console.error(`load average after: ${Deno.loadavg()[0].toFixed(2)}`);
