/**
 * The driver simulation in CI: the real `NodeDriver` on fake ports under the simulator's nemesis.
 * A campaign of seeds that must break nothing, a broken port (`append` resolves before its fsync)
 * that must be caught both as it acknowledges and by its consequences, determinism of a seed, and
 * the broker as the replicated application. Replay a failing seed with the printed command.
 */
import assert from "node:assert/strict";
import { runDriverCampaign, runDriverSeed } from "./driver_run.ts";
import type { RunResult } from "../core/run.ts";

const STEPS = 500;
const SEEDS_PER_TEST = 1000;

function describe(failures: readonly RunResult[], extra = ""): string[] {
  return failures.map((f) => {
    const v = f.violations[0];
    return `seed ${f.seed}: ${v.invariant} at step ${v.step}: ${v.message}\n  deno task sim ` +
      `--driver --seed ${f.seed} --nodes ${f.nodes} --steps ${STEPS}${extra} --trace`;
  });
}

for (let part = 0; part < 3; part++) {
  const first = 1 + part * SEEDS_PER_TEST;
  const last = first + SEEDS_PER_TEST - 1;
  Deno.test(`driver sim campaign: seeds ${first}..${last} (3 and 5 nodes, ${STEPS} steps) break no invariant`, async () => {
    const res = await runDriverCampaign({ firstSeed: first, seeds: SEEDS_PER_TEST, steps: STEPS });
    assert.equal(res.seeds, SEEDS_PER_TEST);
    assert.ok(res.steps >= SEEDS_PER_TEST * STEPS, `only ${res.steps} steps ran`);
    assert.deepEqual(describe(res.failures), []);
  });
}

Deno.test("driver sim flags a log port whose append resolves before its fsync (ack_durable)", async () => {
  const seeds = 100;
  const res = await runDriverCampaign({
    firstSeed: 1,
    seeds,
    steps: STEPS,
    portFaults: { appendResolvesEarly: true },
  });
  const flagged = res.failures.filter((f) => f.violations[0].invariant === "ack_durable");
  console.log(`append-early with ack checks: ${flagged.length} of ${seeds} seeds flagged`);
  assert.ok(flagged.length > seeds / 2, `only ${flagged.length} of ${seeds} seeds flagged`);
});

Deno.test("driver sim catches acknowledged entries lost in a crash by their consequences", async () => {
  // The direct check on acknowledgements is off: the loss itself must show.
  const seeds = 400;
  const res = await runDriverCampaign({
    firstSeed: 1,
    seeds,
    steps: STEPS,
    portFaults: { appendResolvesEarly: true },
    checkAcks: false,
  });
  console.log(
    `append-early without ack checks: ${res.failures.length} of ${seeds} seeds failed: ` +
      res.failures.map((f) => `${f.seed}:${f.violations[0].invariant}`).join(" "),
  );
  assert.ok(res.failures.length >= 1, "no seed caught acknowledged entries lost in a crash");
});

Deno.test("driver sim replays a seed byte for byte (same trace, same outcome)", async () => {
  for (const seed of [3, 8]) {
    const a = await runDriverSeed({ seed, nodes: seed % 2 ? 5 : 3, steps: 300, trace: true });
    const b = await runDriverSeed({ seed, nodes: seed % 2 ? 5 : 3, steps: 300, trace: true });
    assert.ok(a.trace.length > 300, `seed ${seed}: only ${a.trace.length} trace lines`);
    assert.equal(a.trace.join("\n"), b.trace.join("\n"));
    assert.deepEqual(a.stats, b.stats);
  }
  const c = await runDriverSeed({ seed: 4, nodes: 3, steps: 300, trace: true });
  const d = await runDriverSeed({ seed: 8, nodes: 3, steps: 300, trace: true });
  assert.notEqual(c.trace.join("\n"), d.trace.join("\n"));
});

Deno.test("driver sim with the broker as the replicated state machine breaks no invariant", async () => {
  const res = await runDriverCampaign({ firstSeed: 1, seeds: 20, steps: STEPS, app: "broker" });
  assert.deepEqual(describe(res.failures, " --app broker"), []);
  assert.ok(res.steps >= 20 * STEPS);
});

Deno.test("driver sim: production-setting seeds (real thresholds; membership changes, removed nodes left running, restarts, partitions) break no invariant", async () => {
  const seeds = 200;
  const totals = { confChanges: 0, crashes: 0, partitions: 0 };
  const failures: RunResult[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const nodes = seed % 2 ? 5 : 3;
    const r = await runDriverSeed({ seed, nodes, steps: STEPS, production: true });
    if (r.violations.length > 0) failures.push(r);
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r.stats[k];
  }
  console.log(`production-setting driver seeds: ${seeds}, ${JSON.stringify(totals)}`);
  assert.deepEqual(describe(failures, " --production"), []);
  for (const [k, v] of Object.entries(totals)) assert.ok(v >= seeds, `only ${v} ${k}`);
});
