/**
 * The vocabulary of the Raft core: entries, messages, hard state, snapshots, and the Ready batch
 * the core hands to its driver. Every other part of `cluster/` (storage, transport, the node
 * driver) and the simulator speak these types, so they change only with care.
 *
 * Wire compatibility: `Message` and `Entry` are encoded by the transport and the log store with
 * msgpackr. Add optional fields only; never renumber `EntryKind` or rename a `MessageType`.
 *
 * @module
 */

/** A node's id: a short name such as `n1`. Never reused for another node. */
export type NodeId = string;

/** The id that stands for "nobody": no vote cast, no leader known. */
export const NO_NODE: NodeId = "";

/** What an entry carries. Append-only numbering: old logs must stay readable. */
export const EntryKind = {
  /** Application data (or the empty no-op a new leader appends). */
  Normal: 0,
  /** A `ConfChange` encoded with `encodeConfChange`. */
  ConfChange: 1,
} as const;
export type EntryKind = typeof EntryKind[keyof typeof EntryKind];

/** One log entry. `index` starts at 1; index 0 with term 0 is the empty log's sentinel. */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly kind: EntryKind;
  /** Opaque to Raft for `Normal`; empty for a leader's no-op. */
  readonly data: Uint8Array;
}

/** What must be durable before a vote is granted or an append acknowledged. */
export interface HardState {
  readonly term: number;
  /** Who this node voted for in `term`, or `NO_NODE`. */
  readonly vote: NodeId;
  /**
   * Highest index known committed. Never ahead of the durable log: a Ready's commit is at most
   * its last index, which the same Ready's entries make durable before the hard state is saved.
   */
  readonly commit: number;
}

/** The membership: voters decide elections and commits; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/**
 * One single-server membership change (Raft dissertation §4.1). `context` is free text for the
 * application, e.g. the new node's URL. `identify` changes no membership: it records, in the
 * log, the data-directory incarnation (`context`) of a member, so every node learns it the same
 * way and a member that comes back with another data directory is known (cluster/node/identity.ts).
 */
export interface ConfChange {
  readonly op: "add_learner" | "promote" | "remove" | "identify";
  readonly nodeId: NodeId;
  readonly context?: string;
}

export interface SnapshotMeta {
  /** The last index the snapshot covers. */
  readonly index: number;
  /** The term of the entry at `index`. */
  readonly term: number;
  /** The membership as of `index`. */
  readonly conf: ConfState;
}

/** Application state as of `meta.index`, opaque to Raft. */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

/**
 * A snapshot's bytes as the leader reads them to send chunks: in memory (a `Uint8Array` is one),
 * or read from storage chunk by chunk, so a large snapshot need not stay in memory to be sent.
 */
export interface SnapshotData {
  readonly byteLength: number;
  /** Bytes [start, end): a view or a fresh copy. */
  subarray(start: number, end: number): Uint8Array;
  /**
   * Optional: reads bytes [start, start + out.length) into `out` (a reader of storage, so a
   * caller reading a window at a time can reuse one buffer instead of a fresh one per read).
   */
  readInto?(start: number, out: Uint8Array): void;
}

/** The snapshot the core keeps to send to followers too far behind (a `Snapshot` is one). */
export interface StoredSnapshot {
  readonly meta: SnapshotMeta;
  readonly data: SnapshotData;
}

/** One piece of a snapshot sent to a follower that is too far behind (InstallSnapshot, §7). */
export interface SnapshotChunk {
  readonly meta: SnapshotMeta;
  /** Byte offset of `data` within the whole snapshot. */
  readonly offset: number;
  readonly data: Uint8Array;
  /** The total snapshot size in bytes. */
  readonly totalBytes: number;
  /** True on the last chunk. */
  readonly done: boolean;
}

export type MessageType =
  | "prevote"
  | "prevote_resp"
  | "vote"
  | "vote_resp"
  | "append"
  | "append_resp"
  | "heartbeat"
  | "heartbeat_resp"
  | "snapshot"
  | "snapshot_resp"
  | "timeout_now"
  | "read_index"
  | "read_index_resp"
  | "transfer_leader";

/**
 * A Raft message. Flat like etcd's raftpb.Message: the meaning of the numeric fields depends on
 * `type` (see the field comments). Fields that a type does not use are 0 / false / absent.
 */
export interface Message {
  readonly type: MessageType;
  /** Messages from another cluster are dropped on receipt. */
  readonly clusterId: string;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /**
   * append: term of the entry at `index` (prevLogTerm). vote/prevote: last log term.
   * append_resp with reject: the term of the follower's entry at `rejectHint` (fast back-off).
   */
  readonly logTerm: number;
  /**
   * append: index preceding `entries` (prevLogIndex). vote/prevote: last log index.
   * append_resp: the highest index now matched (accept) or the rejected prevLogIndex (reject).
   * snapshot_resp: bytes received so far, or the snapshot index once installed.
   * read_index_resp: the read index.
   */
  readonly index: number;
  readonly entries?: readonly Entry[];
  /** The sender's commit index (append, heartbeat). */
  readonly commit: number;
  readonly reject?: boolean;
  /** append_resp with reject: the follower's hint where the leader should probe next. */
  readonly rejectHint?: number;
  readonly snapshot?: SnapshotChunk;
  /**
   * read_index / heartbeat / their responses: the ReadIndex request context. vote: a marker set
   * on elections started by `timeout_now` (leadership transfer). transfer_leader: the UTF-8 id
   * of the wanted leader (empty: the most up-to-date voter).
   */
  readonly context?: Uint8Array;
  /**
   * snapshot / snapshot_resp: the `meta.index` of the snapshot being transferred, so that an
   * acknowledgement of an earlier (restarted) transfer is not mistaken for one of this transfer.
   */
  readonly snapshotIndex?: number;
  /**
   * The sender's data-directory incarnation, and the receiver's as the sender has it recorded;
   * set and checked by the node driver, never by the core (cluster/node/identity.ts).
   */
  readonly incarnation?: string;
  readonly toIncarnation?: string;
}

export type Role = "follower" | "pre_candidate" | "candidate" | "leader";

/** State that is not persisted but that the application wants to watch. */
export interface SoftState {
  readonly leaderId: NodeId;
  readonly role: Role;
}

/** A completed ReadIndex request: once `index` is applied, a read with `context` is linearizable. */
export interface ReadState {
  readonly index: number;
  readonly context: Uint8Array;
  /** The term of the leader that confirmed `index` (a request's answer is never from before it). */
  readonly term: number;
}

/**
 * What the core hands to its driver. The driver must, in this order:
 * 1. send `messages` (they do not depend on this node's persistence);
 * 2. persist `snapshot`, then `entries` (replacing any suffix of the log from `entries[0].index`),
 *    then `hardState`, durably (fsync);
 * 3. only then send `messagesAfterPersist` (votes granted, append acknowledgements, ...);
 * 4. restore `snapshot` into the application if present, then apply `committedEntries` in order;
 * 5. call `advance(ready)`.
 *
 * Step 2 may take long (an fsync, a large snapshot). Meanwhile the driver keeps stepping messages,
 * ticking and proposing, and may hand out early what depends on no persist of this Ready
 * (`RawNode.takeMessages`: heartbeats, a leader's appends of entries proposed since, which the
 * next Ready persists) and apply committed entries that were durable before it
 * (`RawNode.takeCommittedStable`, after this Ready's own committed entries). Persists stay
 * serialized: the next Ready comes only after `advance`. A leader may also apply, before its own
 * write of them ends, entries a majority of followers committed (`RawNode.applyAheadIndex`,
 * `RawNode.takeCommittedAhead`: this Ready's committed entries up to it before step 2); any
 * other entry is applied on a node only once it is durable in that node's log.
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly snapshot?: Snapshot;
  readonly entries: readonly Entry[];
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly readStates: readonly ReadState[];
}

/** The outcome of `propose`, `proposeConfChange` and `transferLeadership`. */
export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly reason: "not_leader"; readonly leaderId: NodeId }
  | { readonly ok: false; readonly reason: "transfer_in_progress" }
  | { readonly ok: false; readonly reason: "conf_change_pending" }
  | { readonly ok: false; readonly reason: "invalid_conf_change"; readonly detail: string };

/** A source of randomness, injected so the simulator can seed it. Returns [0, 1). */
export type RandomSource = () => number;

export interface RaftConfig {
  readonly id: NodeId;
  readonly clusterId: string;
  /** A leader-less follower starts an election after [electionTicks, 2 * electionTicks). */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly random: RandomSource;
  /** Pre-vote (dissertation §9.6): on by default. */
  readonly preVote?: boolean;
  /** Check-quorum (dissertation §6.2): on by default. */
  readonly checkQuorum?: boolean;
  /** Most append messages in flight to one follower (pipelining window). */
  readonly maxInflightMessages?: number;
  /**
   * Most bytes of entries (data + 24 each, as `maxAppendBytes` counts them) in flight to one
   * follower; default 8 MiB. With `maxInflightMessages` alone, a follower far behind was sent
   * that many appends of `maxAppendBytes` in one go.
   */
  readonly maxInflightBytes?: number;
  /** Most bytes of entry data in one append message. */
  readonly maxAppendBytes?: number;
  /** Bytes per InstallSnapshot chunk. */
  readonly snapshotChunkBytes?: number;
  /**
   * Bytes of entries (data + 24 each, as `maxAppendBytes` counts them) the log keeps in memory
   * when `InitialState.entryReader` can read older ones back from storage: the oldest entries
   * beyond it that are durable and handed to the application are let go, and read back when a
   * lagging follower needs them. Memory then no longer grows with the entries between two
   * snapshots. Default 32 MiB; without a reader every entry stays in memory.
   */
  readonly logCacheBytes?: number;
  /**
   * Leader: a commit that moves with no new entry to send is not sent at once (an append of the
   * commit alone to each follower, and each one's answer: half the messages of a round when
   * proposals come one at a time). It goes with the next append or heartbeat, or when the driver
   * calls `RawNode.sendCommit()`. Only followers learn it later: the leader commits and answers
   * as before. Off by default (etcd sends it at once).
   */
  readonly deferCommitNotice?: boolean;
  /**
   * Test-only fault switches. The simulator turns one on to prove it catches the broken rule;
   * production code never sets them.
   */
  readonly unsafeTestFaults?: {
    /** Break Raft §5.4.2: count replicas for entries of older terms (Figure 8). */
    readonly commitOlderTermEntriesByCount?: boolean;
  };
}

/** What was durable when the node started: the driver loads it from storage. */
export interface InitialState {
  readonly hardState: HardState;
  /** The membership at the very beginning, used when there is neither snapshot nor log. */
  readonly bootstrapConf: ConfState;
  readonly snapshot?: StoredSnapshot;
  /** Entries after the snapshot (or from index 1), contiguous. */
  readonly entries: readonly Entry[];
  /** Reads durable entries back (`RaftConfig.logCacheBytes`); absent: all stay in memory. */
  readonly entryReader?: EntryReader;
}

/** Reads the log's durable entries back from storage, synchronously (`LogStore.readEntries`). */
export interface EntryReader {
  /**
   * Entries `lo..hi-1`, stopping before the entry that would take their bytes (data + 24 each)
   * past `maxBytes`, at least one. Asked only for committed entries whose persist completed.
   */
  readEntries(lo: number, hi: number, maxBytes: number): Entry[];
}
