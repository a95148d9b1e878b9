/**
 * Majority arithmetic (etcd's quorum/majority.go) for a single configuration: the commit index a
 * majority has reached and the outcome of a vote.
 *
 * @module
 */

import type { NodeId } from "./types.ts";

/** The smallest number of voters that is a majority of `n`. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * The largest index that a majority of `voters` have matched (Raft §5.3). With no voters there is
 * nothing to commit, so 0.
 */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  return matches[majority(voters.length) - 1];
}

export type VoteResult = "won" | "lost" | "pending";

/** The outcome of an election among `voters` given the responses so far (true = granted). */
export function voteResult(
  voters: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const q = majority(voters.length);
  if (granted >= q) return "won";
  if (voters.length - rejected < q) return "lost";
  return "pending";
}

/** True when the nodes in `acks` form a majority of `voters`. */
export function hasQuorum(voters: readonly NodeId[], acks: (id: NodeId) => boolean): boolean {
  let n = 0;
  for (const id of voters) if (acks(id)) n++;
  return n >= majority(voters.length);
}
