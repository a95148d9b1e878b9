/**
 * Sequential publish latency of two checkouts side by side: a three-node cluster (fsync, V8's
 * default flags, as the peers kit starts nodes) of this checkout and one of `--checkout <dir>`,
 * both up at once, and each one's own TypeScript client (`Client.publish` with an id, on the
 * stream, one at a time: the peers' sequential workload). Publishes go to the two clusters in
 * blocks of `--block`, alternating (the order of each pair of blocks alternating too), so a
 * busy spell on the shared machine falls on both alike; p50 / p90 / p99 of each side over all
 * its blocks, and the median of the per-block p50s, with the load average before and after.
 *
 * Usage: deno run -A test/bench/seq_ab_bench.ts --checkout <dir> [--blocks 20] [--block 250]
 *   [--warmup 500]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes } from "../e2e/nodes.ts";
import { checkoutRoot } from "./_checkout.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    checkout: { type: "string" },
    blocks: { type: "string", default: "20" },
    block: { type: "string", default: "250" },
    warmup: { type: "string", default: "500" },
  },
});
if (values.checkout === undefined) throw new Error("--checkout <dir> is required");
const BLOCKS = Number(values.blocks);
const BLOCK = Number(values.block);
const BODY = "x".repeat(256);

interface Side {
  readonly name: string;
  readonly nodes: Nodes;
  readonly publish: (i: number) => Promise<unknown>;
  readonly close: () => Promise<void>;
  readonly ms: number[];
  readonly blockP50: number[];
}

const quantile = (xs: readonly number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
};
const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");

async function side(name: string, root: string): Promise<Side> {
  const nodes = await Nodes.start({
    count: 3,
    storage: "fsync",
    keepLogs: false,
    v8Flags: "",
    main: new URL("src/main.ts", root).pathname,
  });
  const { Client } = await import(new URL("src/client/mod.ts", root).href);
  const client = new Client({ nodes: [nodes.url(await nodes.waitLeader())] });
  await client.createQueue("seq");
  return {
    name,
    nodes,
    publish: (i) => client.publish("seq", { id: `${name}-${i}`, body: BODY }),
    close: async () => {
      await client.close();
      await nodes.stop();
    },
    ms: [],
    blockP50: [],
  };
}

console.error(`load average before: ${load()}`);
const sides: Side[] = [];
try {
  sides.push(await side("this", checkoutRoot(undefined)));
  sides.push(await side("other", checkoutRoot(values.checkout)));
  let n = 0;
  for (const s of sides) for (let i = 0; i < Number(values.warmup); i++) await s.publish(n++);
  for (let b = 0; b < BLOCKS; b++) {
    const order = b % 2 === 0 ? sides : [...sides].reverse();
    for (const s of order) {
      const block: number[] = [];
      for (let i = 0; i < BLOCK; i++) {
        const t = performance.now();
        await s.publish(n++);
        block.push(performance.now() - t);
      }
      s.ms.push(...block);
      s.blockP50.push(quantile(block, 0.5));
    }
  }
  const out = Object.fromEntries(sides.map((s) => [s.name, {
    p50: +quantile(s.ms, 0.5).toFixed(3),
    p90: +quantile(s.ms, 0.9).toFixed(3),
    p99: +quantile(s.ms, 0.99).toFixed(3),
    medianBlockP50: +quantile(s.blockP50, 0.5).toFixed(3),
    blocksWon: s.blockP50.filter((p, i) => p < sides.find((o) => o !== s)!.blockP50[i]).length,
  }]));
  console.log(JSON.stringify({ blocks: BLOCKS, block: BLOCK, ...out, loadAfter: load() }));
} finally {
  for (const s of sides) await s.close();
}
