/**
 * The read pipeline: a linearizable read first makes the local replica current (ReadIndex), a
 * `stale` one answers from it at once.
 *
 * @module
 */

import type { AppDeps } from "./context.ts";
import { ProblemError } from "./problems.ts";

/**
 * Makes the local replica current for a linearizable read (ReadIndex: dissertation §6.4), unless
 * the client asked for `stale`. A follower does the barrier itself; reads are never forwarded.
 */
export async function readBarrier(
  deps: AppDeps,
  consistency: "linearizable" | "stale",
): Promise<void> {
  if (deps.node.restoring?.() === true) {
    // Even a stale read: until the snapshot is restored the replica is empty, not merely behind.
    throw new ProblemError(
      "unavailable",
      "This node is restoring its state from a snapshot; retry, or read from another node",
    );
  }
  if (consistency === "stale") return;
  const outcome = await deps.node.readBarrier({ timeoutMs: deps.limits.readTimeoutMs });
  if (outcome.ok) return;
  switch (outcome.reason) {
    case "not_leader":
    case "no_leader":
      throw new ProblemError(
        outcome.leaderId ? "not_leader" : "no_leader",
        "A linearizable read needs a leader; retry, or ask with ?consistency=stale",
        outcome.leaderId ? { leaderId: outcome.leaderId, leaderUrl: outcome.leaderUrl } : {},
      );
    case "timeout":
      throw new ProblemError(
        "unavailable",
        "The read barrier timed out; retry, or ask with ?consistency=stale",
      );
  }
}
