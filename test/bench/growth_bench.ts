/**
 * The worst single batch while filling one queue's columns: 1,000,000 messages with ids, in
 * batches of 50 (an apply's worth), into an `IdTable` and a `MsgStore` side by side, as a queue
 * stores them. Prints the worst batch of each (and where it fell) and the total fill time: the
 * columns' and the hash index's growth is what makes the worst batch.
 *
 *   deno run --allow-all test/bench/growth_bench.ts [--src <checkout>/src] [--n 1000000]
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: { src: { type: "string" }, n: { type: "string" } },
});
const src = values.src ?? new URL("../../src", import.meta.url).pathname;
const n = Number(values.n ?? 1_000_000);
const BATCH = 50;

const { IdTable } = await import(`${src}/broker/_id_table.ts`);
const { MsgStore } = await import(`${src}/broker/_msg_store.ts`);

// Made beforehand, so that the fill itself makes little garbage (the collector's pauses would
// hide the growth's).
const names = Array.from({ length: n }, (_, s) => `msg-${s}-abcdefgh`);
const ids = new IdTable();
const store = new MsgStore();
const body = new Uint8Array(64);
let worstIds = 0, worstIdsAt = 0, worstStore = 0, worstStoreAt = 0;
/** The batches that cross a power of two from 131,072 on (where columns and index double). */
const growth: string[] = [];
const t0 = performance.now();
for (let seq = 0; seq < n; seq += BATCH) {
  const a = performance.now();
  for (let s = seq; s < seq + BATCH; s++) ids.add(names[s], s, Infinity);
  const b = performance.now();
  for (let s = seq; s < seq + BATCH; s++) {
    store.appendFields(s, names[s], s, body, 0, 64, undefined, 0, Infinity, 0, 0, 0);
  }
  const c = performance.now();
  for (let p = 1 << 17; p < n; p *= 2) {
    if (seq <= p && p < seq + BATCH) {
      growth.push(`${p}: ids ${(b - a).toFixed(1)} store ${(c - b).toFixed(1)}`);
    }
  }
  if (b - a > worstIds) [worstIds, worstIdsAt] = [b - a, seq];
  if (c - b > worstStore) [worstStore, worstStoreAt] = [c - b, seq];
}
const total = performance.now() - t0;
console.log(
  `ids worst batch ${worstIds.toFixed(1)} ms at ${worstIdsAt}; ` +
    `store worst batch ${worstStore.toFixed(1)} ms at ${worstStoreAt}; ` +
    `fill total ${total.toFixed(0)} ms`,
);
console.log(`growth batches (ms): ${growth.join("; ")}`);
