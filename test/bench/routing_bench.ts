/**
 * Routing by subject on one core: `deno run -A test/bench/routing_bench.ts [--runs 5]
 * [--publishes 200000] [--subscriptions 10000]`. The broker applies routed topic publishes
 * (256-byte bodies, subjects `orders.r<region>.k<kind>`) with 10,000 subscriptions of mixed
 * patterns (a quarter each: exact `orders.r1.k2`, `orders.r1.*`, `orders.r1.>`, `*.r1.k2`),
 * against the same publishes with one unfiltered subscription. Regions are many (10,000), so a
 * publish matches under one subscription on average and the comparison is of routing, not of
 * fan-out. The topic keeps 10,000 messages, so retention runs too. Also the same patterns with
 * only 10 subscriptions: the index makes the count matter little, memory locality does the rest.
 * Prints the median rate of each and the ratio; fails when the routed rate is under the target
 * (100,000/s) on a full run (200,000 publishes; `--quick` runs in `deno task bench` are shorter).
 *
 * @module
 */

import { BrokerState, type Command } from "../../src/broker/mod.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

const RUNS = arg("runs", 5);
const PUBLISHES = arg("publishes", 200_000);
const SUBSCRIPTIONS = arg("subscriptions", 10_000);
const TARGET = 100_000;
const REGIONS = 10_000;
const KINDS = 10;
const BODY = new Uint8Array(256).fill(120);

/** A small deterministic generator (mulberry32), so every run routes the same stream. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pattern(i: number, next: () => number): string {
  const r = Math.floor(next() * REGIONS);
  const k = Math.floor(next() * KINDS);
  switch (i % 4) {
    case 0:
      return `orders.r${r}.k${k}`;
    case 1:
      return `orders.r${r}.*`;
    case 2:
      return `orders.r${r}.>`;
    default:
      return `*.r${r}.k${k}`;
  }
}

/** A broker with topic `orders` and `n` subscriptions: filtered when `routed`, else plain. */
function setup(routed: boolean, n: number): { b: BrokerState; index: number } {
  const b = new BrokerState();
  let index = 0;
  const apply = (cmd: Command) => {
    const r = b.apply(++index, { ts: 1, cmd });
    if (!r.ok) throw new Error(`Cannot set up the bench: ${r.detail}`);
  };
  apply({ op: "topic_put", topic: "orders", options: { maxMessages: 10_000 } });
  const next = random(7);
  for (let i = 0; i < n; i++) {
    const options = routed ? { filter: pattern(i, next), leaseMs: 60_000 } : { leaseMs: 60_000 };
    apply({ op: "subscription_put", topic: "orders", subscription: `s${i}`, options });
  }
  return { b, index };
}

/** Applies the publishes; returns publishes per second and deliveries made. */
function run(routed: boolean, n: number): { rate: number; delivered: number } {
  const { b, index } = setup(routed, n);
  const next = random(11);
  const cmds: Command[] = Array.from({ length: PUBLISHES }, () => ({
    op: "topic_publish",
    topic: "orders",
    message: {
      body: BODY,
      subject: `orders.r${Math.floor(next() * REGIONS)}.k${Math.floor(next() * KINDS)}`,
    },
  }));
  let i = index;
  const started = performance.now();
  for (const cmd of cmds) b.apply(++i, { ts: 2, cmd });
  const seconds = (performance.now() - started) / 1000;
  let delivered = 0;
  for (const name of b.topic("orders")!.subscriptions) {
    delivered += b.subscription("orders", name)!.stats.published;
  }
  return { rate: PUBLISHES / seconds, delivered };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const routedRates: number[] = [];
const plainRates: number[] = [];
const fewRates: number[] = [];
let delivered = 0;
for (let r = 0; r < RUNS; r++) {
  // Alternate, so drift on a shared machine touches every side alike.
  const routed = run(true, SUBSCRIPTIONS);
  routedRates.push(routed.rate);
  delivered = routed.delivered;
  plainRates.push(run(false, 1).rate);
  fewRates.push(run(true, 10).rate);
}
console.log(
  `routed runs: ${routedRates.map(Math.round).join(", ")}; unfiltered: ${
    plainRates.map(Math.round).join(", ")
  }`,
);
const routed = median(routedRates);
const plain = median(plainRates);
const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
console.log(
  `routed publish, ${fmt(SUBSCRIPTIONS)} subscriptions of mixed patterns: ${fmt(routed)}/s ` +
    `(median of ${RUNS}; ${(delivered / PUBLISHES).toFixed(2)} deliveries per publish)`,
);
console.log(`the same publish, one unfiltered subscription: ${fmt(plain)}/s`);
console.log(`the same patterns, 10 subscriptions: ${fmt(median(fewRates))}/s`);
console.log(`ratio routed / unfiltered: ${(routed / plain).toFixed(2)}`);
if (PUBLISHES < 200_000) {
  console.log("(a short run: the JIT is still warming up, so the target is not checked)");
} else if (routed < TARGET) {
  console.log(`FAIL: under the target of ${fmt(TARGET)} routed publishes/s`);
  Deno.exit(1);
}
