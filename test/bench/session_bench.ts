/**
 * The cost of sessions end to end: publishes per second through the `Client` over three real
 * nodes (fsync on, loopback), 64 lanes, with sessions (the default), with an Idempotency-Key per
 * write (`sessions: false`), alternating modes run by run in the same cluster. Medians of
 * `--runs`. Every publish has a unique id (dedup on) in both modes.
 *
 * Usage: deno run -A test/bench/session_bench.ts [--runs 3] [--messages 5000]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes } from "../e2e/nodes.ts";
import { Client } from "../../src/client/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    messages: { type: "string", default: "5000" },
  },
});
const RUNS = Number(values.runs);
const MESSAGES = Number(values.messages);
const LANES = 64;

async function load(client: Client, queue: string, count: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: LANES }, async () => {
    while (next < count) {
      next++;
      await client.publish(queue, { body: "x".repeat(200) });
    }
  }));
  return count / (performance.now() - t0) * 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const nodes = await Nodes.start({ count: 3, storage: "fsync", keepLogs: false });
try {
  const rates: Record<string, number[]> = { sessions: [], keys: [] };
  for (let run = 0; run < RUNS; run++) {
    for (const mode of ["sessions", "keys"] as const) {
      const leader = await nodes.waitLeader();
      const client = new Client({
        nodes: [nodes.url(leader)],
        sessions: mode === "sessions",
        transport: "http",
      });
      const queue = `bench-${mode}-${run}`;
      await client.createQueue(queue);
      await load(client, queue, 500);
      const rate = await load(client, queue, MESSAGES);
      rates[mode].push(rate);
      console.error(`run ${run + 1} ${mode}: ${rate.toFixed(0)} publishes/s`);
    }
  }
  const s = median(rates.sessions);
  const k = median(rates.keys);
  console.log(JSON.stringify({
    messages: MESSAGES,
    lanes: LANES,
    sessions: Math.round(s),
    keys: Math.round(k),
    ratio: Number((s / k).toFixed(2)),
    rates,
  }));
} finally {
  await nodes.stop();
}
