/**
 * The node driver's options and the outcomes of its calls, and what the driver's parts (the apply
 * worker, the snapshots) share with it.
 *
 * @module
 */

import type { ConfState, NodeId, RaftConfig, RawNode, Role } from "../raft/mod.ts";
import type { Identities } from "./identity.ts";
import type { MemberUrls } from "./membership.ts";
import type {
  LogEvent,
  MessageSink,
  OnFatal,
  Pace,
  StartTicker,
  StartTimer,
  StateMachine,
  StoragePorts,
} from "./ports.ts";

export interface NodeDriverOptions {
  readonly raft: RaftConfig;
  /** The voters when storage is empty (a brand-new cluster); empty for a node that will join. */
  readonly bootstrapConf: ConfState;
  /** URLs of the bootstrap members; later members' URLs come from the log. */
  readonly bootstrapUrls: ReadonlyMap<NodeId, string>;
  readonly storage: StoragePorts;
  readonly sink: MessageSink;
  readonly stateMachine: StateMachine;
  readonly startTicker: StartTicker;
  readonly tickMs: number;
  /**
   * With `raft.deferCommitNotice`: a one-shot timer for the commit notice (returns a function
   * that cancels it). A commit that no append carried to the followers within
   * `commitNoticeDelayMs` is sent then; the next heartbeat carries it anyway. Without it the
   * driver sends it as soon as its ready loop has nothing else to do.
   */
  readonly startTimer?: StartTimer;
  /** See `startTimer`. Default 2 ms. */
  readonly commitNoticeDelayMs?: number;
  /** Take a snapshot once this many entries were applied since the last one (and see below). */
  readonly snapshotEveryEntries: number;
  /**
   * Also wait until the entries applied since the last snapshot hold at least this fraction of
   * that snapshot's size in bytes. A snapshot costs work in proportion to the whole state, so a
   * fixed entry count makes a large state snapshot over and over (a backlog of 300k messages took
   * ~100 MB every 20k entries, a fifth of the leader's CPU); a log allowed to grow in proportion
   * to the state keeps that cost a fixed fraction per byte written (Raft dissertation §5.1.1,
   * LogCabin's expansion factor), at the price of a log (on disk and in memory) up to this
   * fraction of the state. Default 0: the entry count alone decides.
   */
  readonly snapshotLogFactor?: number;
  /**
   * Take a snapshot at this many entries since the last whatever their bytes: it bounds what a
   * restarting node replays (and the in-memory log) when the state is large. Default unbounded.
   */
  readonly snapshotEntriesMax?: number;
  /**
   * Take a snapshot once the entries applied since the last hold this many bytes, whatever their
   * count and `snapshotLogFactor`: the core keeps every entry since the last snapshot in memory,
   * and entries that carry batches (50 messages, 14 KB each) made 20,000 of them ~280 MB.
   * Default unbounded.
   */
  readonly snapshotLogBytesMax?: number;
  readonly log: LogEvent;
  readonly onFatal: OnFatal;
  /**
   * Whether a node in `role` makes its entries durable with a blocking fdatasync, holding its
   * event loop (`AppendOptions.blocking`). Default `blockingPersist` (driver_persist.ts): a
   * follower's do, a leader's do not; real nodes pass `ClientAwareBlocking`'s.
   */
  readonly blockingPersist?: (role: Role) => boolean;
  /** Observes every fsync-bearing persist step, in ms (metrics). */
  readonly observePersistMs?: (ms: number) => void;
  /**
   * A monotonic clock in ms, for the persist latency metric and to time blocking syncs (after a
   * slow one a node's syncs stay asynchronous a while, driver_persist.ts).
   */
  readonly nowMs?: () => number;
  /**
   * Gives the event loop a turn between the bounded steps of snapshot work (encoding, copying,
   * restoring): real nodes pass `slicePacer()`. Without it the steps run back to back, which
   * the simulator wants (no real timer decides an order there).
   */
  readonly pace?: Pace;
  /**
   * Tells this start of the node apart from every other one: it is part of every ReadIndex key,
   * so an answer meant for an earlier incarnation, still in flight, never settles a read of this
   * one. Default: 64 random bits. The simulator passes one drawn from its seed.
   */
  readonly incarnation?: string;
  /**
   * The incarnation of this node's data directory (`Storage.incarnation`): sent with every
   * message and recorded by the cluster, so that this id coming back with other data neither
   * votes nor counts (identity.ts). Absent: no identity checks (tests of the core paths).
   */
  readonly dataIncarnation?: string;
  /**
   * Called once a snapshot is restored, when its bytes (released at once) and the restore's
   * temporaries have just become garbage: a real node passes a full garbage collection
   * (src/server/memory.ts), so the ~100 MB of them go now rather than at a collection V8 may
   * not start for minutes (an idle node allocates too little). Default: nothing.
   */
  readonly collectGarbage?: () => void;
}

/** The outcome of `propose`. `dropped`: the entry was overwritten, it will never apply. */
export type DriverProposeOutcome =
  | { readonly ok: true; readonly index: number; readonly result: unknown }
  | { readonly ok: false; readonly reason: "not_leader"; readonly leaderId: NodeId }
  | { readonly ok: false; readonly reason: "unknown_outcome" | "dropped" | "closed" };

export type DriverReadOutcome =
  | { readonly ok: true; readonly index: number }
  | { readonly ok: false; readonly reason: "no_leader" | "timeout" | "closed" };

/** What the driver lends its parts (the apply worker, the snapshots). */
export interface DriverHost {
  readonly o: NodeDriverOptions;
  readonly raw: RawNode;
  readonly urls: MemberUrls;
  readonly identities: Identities;
  /** True once the driver closed or failed: work in progress stops. */
  isClosed(): boolean;
  /** Fails the node (logs, stops ticking, calls `onFatal`). */
  fatal(e: unknown): void;
}
