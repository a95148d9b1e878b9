/**
 * What `RawNode.status()` reports: for the node driver's `GET /v1/cluster`, metrics and tests.
 *
 * @module
 */

import type { ConfState, NodeId, Role } from "./types.ts";
import type { ProgressState } from "./progress.ts";

/** A leader's view of one member's replication (empty on followers). */
export interface PeerProgress {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly recentActive: boolean;
  readonly isLearner: boolean;
}

/** Messages dropped on receipt, by reason (observability of fencing). */
export interface DropCounts {
  /** Another cluster id. */
  readonly clusterMismatch: number;
  /** The sender is neither voter nor learner in this node's configuration. */
  readonly nonMember: number;
  /** Addressed to another node id. */
  readonly misaddressed: number;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly role: Role;
  readonly leaderId: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly firstIndex: number;
  /** The last index known durable on this node. */
  readonly stableIndex: number;
  /** Bytes of entries the log holds in memory (`RaftConfig.logCacheBytes`). */
  readonly logBytesHeld: number;
  readonly conf: ConfState;
  readonly progress: Readonly<Record<NodeId, PeerProgress>>;
  readonly pendingConfIndex: number;
  /** The target of a leadership transfer in progress, or `NO_NODE`. */
  readonly leadTransferee: NodeId;
  readonly dropped: DropCounts;
}
