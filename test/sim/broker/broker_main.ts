/**
 * The broker simulation's command line:
 *   deno run --allow-env --allow-read test/sim/broker/broker_main.ts [--seeds N] [--first S] [--steps M]
 * Ends with `broker sim: <seeds> seeds, <violations> violations`; exits 1 on any violation,
 * printing each violating seed.
 *
 * @module
 */

import { runBrokerSeed } from "./broker_run.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  const v = i < 0 ? fallback : Number(Deno.args[i + 1]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`Cannot read ${name}: expected an integer`);
  return v;
}

const seeds = arg("--seeds", 50);
const first = arg("--first", 1);
const steps = arg("--steps", 500);
let failed = 0;
const totals: Record<string, number> = {};
for (let seed = first; seed < first + seeds; seed++) {
  const r = runBrokerSeed({ seed, nodes: seed % 2 === 0 ? 3 : 5, steps });
  for (const [k, v] of Object.entries(r.stats)) totals[k] = (totals[k] ?? 0) + v;
  if (r.violations.length > 0) {
    failed++;
    console.log(`seed ${seed}: ${r.violations.slice(0, 3).join("\n  ")}`);
  }
}
console.log(JSON.stringify(totals));
console.log(`broker sim: ${seeds} seeds, ${failed} violations`);
if (failed > 0) Deno.exit(1);
