/**
 * What a publish with a new id costs the dedup id table (`IdTable`), as a queue's publish calls it
 * (`expire`, `lookup`, `add`): `--n` ids of the peers' B100 shape (`<pid>-<time>-r1-m<j>-<k>`),
 * into a fresh table, CPU time per id; the least of `--rounds` rounds. `--src a,b` measures the
 * tables of those `src` directories instead of this checkout's, round by round alternating (list
 * them in both orders: the first measured tends to do better).
 *
 * Usage: deno run -A test/bench/id_table_bench.ts [--n 300000] [--rounds 7] [--src dir,dir]
 *
 * @module
 */

import { parseArgs } from "node:util";
import process from "node:process";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    n: { type: "string", default: "300000" },
    rounds: { type: "string", default: "7" },
    src: { type: "string" },
  },
});
const N = Number(values.n);
const ROUNDS = Number(values.rounds);
const here = new URL("../../src", import.meta.url).pathname;

interface Table {
  expire(now: number): void;
  lookup(id: string, now: number): unknown;
  add(id: string, seq: number, expiresAt: number): number;
}
type Make = () => Table;

async function tableOf(src: string): Promise<Make> {
  const { IdTable } = await import(`${src}/broker/_id_table.ts`);
  return () => new IdTable();
}

const tag = `${Deno.pid}-${Date.now()}`;
const ids = Array.from({ length: N }, (_, i) => `${tag}-r1-m${Math.floor(i / 100)}-${i % 100}`);

/** CPU µs per id of one fill. */
function fill(make: Make): number {
  const t = make();
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    t.expire(i);
    if (t.lookup(ids[i], i) !== undefined) throw new Error("duplicate");
    t.add(ids[i], i + 1, i + 3_600_000);
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / N;
}

const srcs = values.src?.split(",") ?? [here];
const sides: [string, Make][] = [];
for (const src of srcs) sides.push([src, await tableOf(src)]);
const best = sides.map(() => Infinity);
for (let r = 0; r < ROUNDS; r++) {
  sides.forEach(([, make], k) => best[k] = Math.min(best[k], fill(make)));
}
for (const [k, [name]] of sides.entries()) {
  console.log(`${name}: ${best[k].toFixed(3)} µs per id (least of ${ROUNDS} rounds of ${N})`);
}
