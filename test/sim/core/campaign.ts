/**
 * A campaign: many seeds in a row, with the same options, for `main.ts` and the CI tests.
 *
 * @module
 */

import { type RunOptions, type RunResult, runSeed } from "./run.ts";
import { nodesForSeed } from "./settings.ts";

/** What a campaign runs. Without `nodes`, even seeds get 3 nodes and odd seeds 5. */
export interface CampaignOptions extends Omit<RunOptions, "seed" | "nodes" | "trace"> {
  readonly firstSeed: number;
  readonly seeds: number;
  readonly nodes?: 3 | 5;
}

/** The totals of a campaign. */
export interface CampaignResult {
  readonly seeds: number;
  readonly steps: number;
  /** The seeds that broke an invariant (each stops at its first violation). */
  readonly failures: readonly RunResult[];
}

/** Runs the seeds in order; `onProgress` is called after each one. */
export function runCampaign(
  opts: CampaignOptions,
  onProgress?: (done: number, steps: number, failures: number) => void,
): CampaignResult {
  const failures: RunResult[] = [];
  let steps = 0;
  for (let i = 0; i < opts.seeds; i++) {
    const seed = opts.firstSeed + i;
    const r = runSeed({ ...opts, seed, nodes: nodesForSeed(seed, opts.nodes) });
    steps += r.steps;
    if (r.violations.length > 0) failures.push(r);
    onProgress?.(i + 1, steps, failures.length);
  }
  return { seeds: opts.seeds, steps, failures };
}

/** The command that replays one seed exactly. */
export function replayCommand(r: RunResult, steps: number, extra = ""): string {
  return `deno task sim --seed ${r.seed} --nodes ${r.nodes} --steps ${steps}${extra} --trace`;
}
