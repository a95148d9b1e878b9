/**
 * What a follower's log missing entries it acknowledged means, as an error its driver can tell
 * apart from a bug.
 *
 * @module
 */

import type { NodeId } from "./types.ts";

/**
 * Thrown by `step` when the leader's heartbeat commits past the end of this node's log. A leader
 * commits on a follower only what the follower acknowledged as durable (min(match, commit)), so
 * this node lost entries it had acknowledged: its storage was emptied or replaced (an in-memory
 * node restarted, a data directory wiped) before the cluster recorded its incarnation. It may have
 * forgotten a vote too; it must stop rather than vote or count toward commits (etcd panics here:
 * "Was the raft log corrupted, truncated, or lost?").
 */
export class LostLogError extends Error {
  constructor(
    readonly nodeId: NodeId,
    readonly leaderId: NodeId,
    readonly commit: number,
    readonly lastIndex: number,
  ) {
    super(
      `Node ${nodeId}'s log ends at ${lastIndex}, but its leader ${leaderId} counts it holding ` +
        `entries through ${commit}, which it acknowledged before: its data was lost or replaced, ` +
        `so it must not vote or count toward commits until it is removed from the membership ` +
        `and added again as a new member.`,
    );
    this.name = "LostLogError";
  }
}
