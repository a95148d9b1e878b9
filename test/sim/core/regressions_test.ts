import assert from "node:assert/strict";
import { REGRESSION_SEEDS } from "./regressions.ts";
import { runSeed } from "./run.ts";

Deno.test("every regression seed replays without a violation", () => {
  const failed: string[] = [];
  for (const r of REGRESSION_SEEDS) {
    const res = runSeed({ seed: r.seed, nodes: r.nodes, steps: r.steps });
    const v = res.violations[0];
    if (v !== undefined) {
      failed.push(`seed ${r.seed} (${r.found}): ${v.invariant} at step ${v.step}: ${v.message}`);
    }
  }
  assert.deepEqual(failed, []);
});
