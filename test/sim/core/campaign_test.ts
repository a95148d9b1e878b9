/**
 * The CI campaign: 6,000 seeds of 500 faulty steps each (plus the quiet phase), even seeds on 3
 * nodes and odd seeds on 5, split by seed range so a failure names its range. Replay a failing
 * seed with the command printed in the assertion message.
 */
import assert from "node:assert/strict";
import { replayCommand, runCampaign } from "./campaign.ts";
import { type RunResult, runSeed } from "./run.ts";

const STEPS = 500;
const SEEDS_PER_TEST = 1000;

for (let part = 0; part < 6; part++) {
  const first = 1 + part * SEEDS_PER_TEST;
  const last = first + SEEDS_PER_TEST - 1;
  Deno.test(`sim campaign: seeds ${first}..${last} (3 and 5 nodes, ${STEPS} steps) break no invariant`, () => {
    const res = runCampaign({ firstSeed: first, seeds: SEEDS_PER_TEST, steps: STEPS });
    assert.equal(res.seeds, SEEDS_PER_TEST);
    assert.ok(res.steps >= SEEDS_PER_TEST * STEPS, `only ${res.steps} steps ran`);
    const report = res.failures.map((f) => {
      const v = f.violations[0];
      return `seed ${f.seed}: ${v.invariant} at step ${v.step}: ${v.message}\n  ${
        replayCommand(f, STEPS)
      }`;
    });
    assert.deepEqual(report, []);
  });
}

Deno.test("sim: production-setting seeds (real thresholds; membership changes, removed nodes left running, restarts, partitions) break no invariant", () => {
  const seeds = 400;
  const totals = { confChanges: 0, crashes: 0, partitions: 0 };
  const failures: RunResult[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const r = runSeed({ seed, nodes: seed % 2 ? 5 : 3, steps: STEPS, production: true });
    if (r.violations.length > 0) failures.push(r);
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r.stats[k];
  }
  console.log(`production-setting seeds: ${seeds}, ${JSON.stringify(totals)}`);
  const report = failures.map((f) =>
    `seed ${f.seed}: ${f.violations[0].invariant}: ${f.violations[0].message}\n  ${
      replayCommand(f, STEPS, " --production")
    }`
  );
  assert.deepEqual(report, []);
  for (const [k, v] of Object.entries(totals)) assert.ok(v >= seeds, `only ${v} ${k}`);
});
