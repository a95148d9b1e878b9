/**
 * Seeds that once found a bug, each with what it found. `regressions_test.ts` replays them all
 * and expects no violation. A seed is only meaningful for the simulator version that found it (a
 * change to the nemesis or the workload draws different faults from the same seed), so when the
 * simulator changes, rerun the bug's own regression test and refresh the seeds here. Findings
 * that no current seed reproduces have a deterministic test instead (FINDINGS.md #2:
 * `finding_stable_prefix_test.ts`).
 *
 * @module
 */

/** One remembered seed. */
export interface RegressionSeed {
  readonly seed: number;
  readonly nodes: 3 | 5;
  readonly steps: number;
  /** What it found, with the commit that fixed it. */
  readonly found: string;
}

const SNAPSHOT_STUCK =
  "FINDINGS #1: leader stuck in snapshot state after the follower installed a snapshot the " +
  "leader had since compacted past (liveness; fixed in raft 49d0d5f)";

/** Every regression seed, oldest first. */
export const REGRESSION_SEEDS: readonly RegressionSeed[] = [
  { seed: 9, nodes: 5, steps: 500, found: SNAPSHOT_STUCK },
  { seed: 17, nodes: 5, steps: 500, found: SNAPSHOT_STUCK },
  { seed: 39, nodes: 5, steps: 500, found: SNAPSHOT_STUCK },
  { seed: 59, nodes: 5, steps: 500, found: SNAPSHOT_STUCK },
  { seed: 89, nodes: 5, steps: 500, found: SNAPSHOT_STUCK },
  { seed: 20, nodes: 3, steps: 500, found: SNAPSHOT_STUCK },
  { seed: 36, nodes: 3, steps: 500, found: SNAPSHOT_STUCK },
  { seed: 38, nodes: 3, steps: 500, found: SNAPSHOT_STUCK },
  { seed: 42, nodes: 3, steps: 500, found: SNAPSHOT_STUCK },
  { seed: 50, nodes: 3, steps: 500, found: SNAPSHOT_STUCK },
];
