/**
 * Bounded elections under bridge and one-way partitions (docs/reliability.md item 5): the correct core
 * keeps the term put while a leader holds a connected majority (the CI campaign checks it on
 * every seed), and a core with pre-vote and check-quorum off breaks the bound on some seeds.
 */
import assert from "node:assert/strict";
import { runCampaign } from "./campaign.ts";
import { runSeed } from "./run.ts";

const STEPS = 500;
const SEEDS = 500;

Deno.test(`bounded_elections fails for a core without pre-vote and check-quorum (${SEEDS} seeds)`, () => {
  const res = runCampaign({
    firstSeed: 1,
    seeds: SEEDS,
    steps: STEPS,
    raft: { preVote: false, checkQuorum: false },
  });
  const caught = res.failures.filter((f) => f.violations[0].invariant === "bounded_elections");
  console.log(
    `pre-vote and check-quorum off: ${caught.length} of ${SEEDS} seeds broke the bound: ` +
      caught.slice(0, 10).map((f) => f.seed).join(" "),
  );
  assert.ok(caught.length >= 1, "no seed caught terms climbing under a partial partition");
});

Deno.test("bounded_elections watches partial partitions and the correct core stays within the bound", () => {
  let watched = 0;
  let windows = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const r = runSeed({ seed, nodes: seed % 2 ? 5 : 3, steps: STEPS });
    assert.deepEqual(r.violations, [], `seed ${seed}`);
    watched += r.stats.electionStepsWatched;
    windows += r.stats.partialPartitions;
  }
  assert.ok(windows >= 10, `only ${windows} bridge or one-way partitions in 60 seeds`);
  assert.ok(watched >= 200, `only ${watched} steps watched with a connected majority`);
});
