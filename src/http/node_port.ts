/**
 * The port between the HTTP front end and the node driver (Raft + storage + transport + broker).
 * The driver implements exactly this; the HTTP layer never sees Raft itself. Tests use
 * `testing/local_node.ts`, an in-process single node without Raft.
 *
 * Contract, in one place:
 * - `propose` resolves only once the entry is applied ON THIS NODE, with the broker's result for
 *   it. `not_leader`: nothing was appended (safe to forward). `unknown_outcome`: appended, then
 *   leadership was lost or `timeoutMs` passed before apply: the command may or may not apply.
 *   `no_leader`: nothing was appended and no leader is known.
 * - `readBarrier` resolves once this node has applied at least the leader's commit index as of the
 *   call (ReadIndex, Raft dissertation §6.4; a follower asks the leader through Raft), so a read
 *   of `broker()` right after it is linearizable.
 * - `broker()` is the local replica as of the last applied entry; it must not be mutated.
 * - `onApplied` listeners run synchronously after each applied batch; they must be cheap.
 *
 * @module
 */

import type {
  ClaimInfo,
  ConsumerTarget,
  Deliverability,
  ExactlyOnceStats,
  MessageStatus,
  PeekedMessage,
  Proposal,
  QueueInfo,
  SessionRef,
  SubscriptionInfo,
  TopicInfo,
  TopicMessage,
  TopicPage,
} from "../broker/mod.ts";
import type { HistogramSnapshot } from "./prometheus.ts";

/** Where to find the leader, when known. */
export interface LeaderHint {
  readonly leaderId?: string;
  /** The leader's advertised base URL (`http://host:port`), used to forward writes. */
  readonly leaderUrl?: string;
}

/** The outcome of `propose`. */
export type ProposeOutcome =
  | { readonly ok: true; readonly result: unknown }
  | ({ readonly ok: false; readonly reason: "not_leader" } & LeaderHint)
  | { readonly ok: false; readonly reason: "unknown_outcome" }
  | { readonly ok: false; readonly reason: "no_leader" };

/** The outcome of `readBarrier`. */
export type ReadBarrierOutcome =
  | { readonly ok: true }
  | ({ readonly ok: false; readonly reason: "not_leader" | "no_leader" | "timeout" } & LeaderHint);

/**
 * The outcome of a membership change or a leadership transfer. `ok` means the change was
 * committed (membership) or the transfer was started (the target will campaign), or with `wait`
 * done (another node leads).
 * `rejected`: Raft refused it (a change already pending, unknown node, ...), with the reason.
 */
export type AdminOutcome =
  | { readonly ok: true }
  | ({ readonly ok: false; readonly reason: "not_leader" } & LeaderHint)
  | { readonly ok: false; readonly reason: "no_leader" | "unknown_outcome" }
  | { readonly ok: false; readonly reason: "rejected"; readonly detail: string };

/**
 * The broker's read-only query surface, as of the last entry applied on this node: exactly the
 * query methods of `BrokerState` (src/broker/state.ts), so the driver hands out its instance.
 */
export interface BrokerView {
  listQueues(): readonly QueueInfo[];
  queue(name: string): QueueInfo | undefined;
  messageStatus(queue: string, id: string): MessageStatus | undefined;
  /** Stored messages with `seq >= fromSeq`, at most `limit`, leasing nothing; no queue: undefined. */
  peekQueue(name: string, fromSeq: number, limit: number): readonly PeekedMessage[] | undefined;
  listTopics(): readonly TopicInfo[];
  topic(name: string): TopicInfo | undefined;
  /** Retained messages with `seq >= fromSeq`, in seq order, at most `limit`; no topic: undefined. */
  readTopic(name: string, fromSeq: number, limit: number): readonly TopicMessage[] | undefined;
  /**
   * A page of the retained log from `fromSeq`: at most `limit` messages (with `subject`, those
   * matching that pattern) and the seq the next page starts at; no topic: undefined.
   */
  readTopicPage(
    name: string,
    fromSeq: number,
    limit: number,
    subject?: string,
  ): TopicPage | undefined;
  subscription(topic: string, name: string): SubscriptionInfo | undefined;
  /** The live retained messages of a topic (with `subject`, those matching it); no topic: undefined. */
  retained(topic: string, subject?: string): readonly TopicMessage[] | undefined;
  /** A claim of a topic (`claim_take`), or undefined. */
  claim(topic: string, key: string): ClaimInfo | undefined;
  /** Long poll: deliverable as of the last applied entry, else when one may become so. */
  deliverability(target: ConsumerTarget): Deliverability | undefined;
  /**
   * Whether a write with this session place or Idempotency-Key has a stored answer
   * (`BrokerState.hasStoredAnswer`), optional: a long-poll receive that has one is a replay,
   * proposed at once instead of waiting first.
   */
  /** Sessions and keys held against their bounds (`BrokerState.exactlyOnceStats`), optional. */
  exactlyOnceStats?(): ExactlyOnceStats;
  hasStoredAnswer?(
    p: { readonly idemKey?: string; readonly session?: SessionRef; readonly owner?: string },
  ): boolean;
}

/** One member in the cluster view. */
export interface MemberView {
  readonly id: string;
  readonly url: string;
  readonly role: "leader" | "follower" | "candidate" | "pre_candidate" | "learner" | "unknown";
  /** Highest log index known replicated on this member (leader's view; 0 elsewhere). */
  readonly matchIndex: number;
  /** Ms since the leader last heard from it (leader's view); undefined when unknown. */
  readonly lastContactMs?: number;
}

/** `GET /v1/cluster`, as this node sees it. */
export interface ClusterView {
  readonly nodeId: string;
  /** Empty string when no leader is known. */
  readonly leaderId: string;
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly members: readonly MemberView[];
}

/** Numbers for `/metrics`. Counters only grow over the process lifetime. */
export interface NodeMetrics {
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  /** Times this node saw the leader change (counter). */
  readonly leaderChanges: number;
  /** Elections this node started (counter). */
  readonly elections: number;
  /** Latency of each fsync of the log, in seconds; undefined with memory storage. */
  readonly fsyncSeconds?: HistogramSnapshot;
  /**
   * Broker proposals this node proposed as leader, and the Raft entries that carried them
   * (counters): one entry per batch of proposals, so their ratio is the mean batch size.
   */
  readonly proposals?: { readonly proposals: number; readonly entries: number };
}

/** What the HTTP layer needs from the node (see the module doc for the contract). */
export interface NodePort {
  readonly nodeId: string;
  /**
   * Proposes a command; this node stamps its entry time (`EntryClock.stamp`), which only counts
   * when it is the leader (any other node answers `not_leader`). See the module doc.
   */
  propose(proposal: Proposal, opts: { readonly timeoutMs: number }): Promise<ProposeOutcome>;
  /**
   * Where the leader is, when this node does not lead now (a follower forwards a write to it
   * before reading the write: `forwardUnread`); undefined when it leads. Optional: without it a
   * node reads every write and learns from `propose` that it must forward it.
   */
  leaderToAsk?(): LeaderHint | undefined;
  /** Linearizable read barrier (ReadIndex, then wait until applied). */
  readBarrier(opts: { readonly timeoutMs: number }): Promise<ReadBarrierOutcome>;
  /**
   * True while the replica is still being rebuilt from a snapshot after a start: it then holds
   * no state worth reading, not even a stale one. Absent: never.
   */
  restoring?(): boolean;
  broker(): BrokerView;
  /**
   * Entry time on this node now (`EntryClock.now`): what `deliverability().nextAt` and every
   * other broker time is compared with. Not the wall clock; 0 before any entry time is known.
   */
  entryTimeMs(): number;
  /** Registers a listener called after each batch of applied entries; returns unsubscribe. */
  onApplied(listener: () => void): () => void;
  clusterView(): ClusterView;
  /** Adds a voter (as a learner first, then promoted once caught up; dissertation §4.2.1). */
  addMember(id: string, url: string): Promise<AdminOutcome>;
  removeMember(id: string): Promise<AdminOutcome>;
  /**
   * Transfers leadership to `to`, or to the most up-to-date follower (dissertation §3.10). `ok`:
   * started; with `wait`, once another node leads (`rejected` when the transfer was abandoned or
   * this node was elected again; `not_leader` on a follower, which forwards).
   */
  transferLeadership(to?: string, wait?: boolean): Promise<AdminOutcome>;
  metrics(): NodeMetrics;
}
