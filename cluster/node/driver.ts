/**
 * The node driver: runs the Raft core's ready loop with real or fake ports. For every Ready it
 * sends what may leave at once, persists (snapshot, entries, hard state), then sends what had to
 * wait for the persist, hands committed entries (and a snapshot to restore) to the apply worker,
 * and advances the core. The worker applies them to the state machine in log order, in paced
 * slices, apart from the ready loop: a node votes and replicates while it restores or replays.
 * Proposals resolve with the state machine's result once their entry is applied here.
 *
 * Time is counted in ticks: timeouts of proposals and reads expire on ticks, so the only
 * real-time source is the ticker port.
 *
 * @module
 */

import {
  applyConfChange,
  type ConfChange,
  type ConfState,
  decodeConfChange,
  type Entry,
  EntryKind,
  type HardState,
  type Message,
  NO_NODE,
  type NodeId,
  type RaftConfig,
  type RaftStatus,
  RawNode,
  type Ready,
  type Role,
  type Snapshot,
  type SnapshotMeta,
  type StoredSnapshot,
} from "../raft/mod.ts";
import { loadOrBootstrap } from "./bootstrap.ts";
import { hardStateToSave } from "./hard_state_policy.ts";
import { Identities, StaleIncarnationError } from "./identity.ts";
import { joinParts, MemberUrls, snapshotParts, unwrapSnapshot } from "./membership.ts";
import { noPace } from "./pace.ts";
import type {
  LogEvent,
  MessageSink,
  OnFatal,
  Pace,
  SnapshotView,
  StartTicker,
  StateMachine,
  StoragePorts,
} from "./ports.ts";
import { Waiters } from "./waiters.ts";

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
  /** Observes every fsync-bearing persist step, in ms (metrics). */
  readonly observePersistMs?: (ms: number) => void;
  /** A monotonic clock in ms, only for the persist latency metric. */
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

/** How often (in ticks) a leader looks for a member whose incarnation is not recorded yet. */
const IDENTIFY_EVERY_TICKS = 5;

/** The outcome of `propose`. `dropped`: the entry was overwritten, it will never apply. */
export type DriverProposeOutcome =
  | { readonly ok: true; readonly index: number; readonly result: unknown }
  | { readonly ok: false; readonly reason: "not_leader"; readonly leaderId: NodeId }
  | { readonly ok: false; readonly reason: "unknown_outcome" | "dropped" | "closed" };

export type DriverReadOutcome =
  | { readonly ok: true; readonly index: number }
  | { readonly ok: false; readonly reason: "no_leader" | "timeout" | "closed" };

interface PendingRead {
  readonly deadlineTick: number;
  /** The term when the read was last asked: an answer from an older term is not for it. */
  term: number;
  readonly resolve: (o: DriverReadOutcome) => void;
}

/**
 * State-machine work, in log order: restore a snapshot, or apply committed entries. It runs apart
 * from the ready loop (`#runApply`), so the node votes, appends and answers heartbeats while a
 * large snapshot restores or a long log replays: Raft's log does not need the state machine.
 */
type ApplyWork = { readonly snapshot: Snapshot } | { readonly entries: readonly Entry[] };

/** Entries applied between two `pace()` calls of the apply worker. */
const APPLY_SLICE_ENTRIES = 64;

interface PendingProposal {
  readonly term: number;
  readonly deadlineTick: number;
  readonly resolve: (o: DriverProposeOutcome) => void;
}

/** Runs one Raft node. Create with `NodeDriver.open`. */
export class NodeDriver {
  readonly id: NodeId;
  readonly urls: MemberUrls;
  readonly identities: Identities;
  /** An `identify` this leader proposed that has not settled yet. */
  #identifying = false;
  /** Per peer: the tick of the last warning about its stale incarnation (one per 100 ticks). */
  readonly #staleWarned = new Map<NodeId, number>();
  #raw: RawNode;
  #o: NodeDriverOptions;
  #ticks = 0;
  #running = false;
  #closed = false;
  #stopTicker: () => void = () => {};
  #proposals = new Map<number, PendingProposal>();
  #reads = new Map<string, PendingRead>();
  /** `${id}:${incarnation}:`, the prefix of this incarnation's read keys. */
  readonly #readKeyPrefix: string;
  /** Set when the leader changed while reads were pending; see `#reissueReads`. */
  #readsToReissue = false;
  #readSeq = 0;
  #applied = new Waiters();
  #applyQueue: ApplyWork[] = [];
  #restoringAtStart = false;
  /**
   * Snapshots whose bytes nothing needs once the state machine restored them (the core keeps a
   * copy read back from storage instead): they are freed at once then, not at the garbage
   * collector's next full collection, which a small heap may not run for minutes.
   */
  #releaseAfterRestore = new WeakSet<Snapshot>();
  /** A snapshot taken here whose index the core has not counted applied yet. */
  #compactLater: StoredSnapshot | undefined;
  #applyRunning = false;
  /** What the state machine holds: 0 until the snapshot loaded at start is restored. */
  #appliedIndex = 0;
  /** The last index of the durable log here (what a crash now would keep). */
  #durableIndex: number;
  #appliedTerm: number;
  /**
   * The membership as of `#appliedIndex`, for the snapshots this node takes (Raft §7: a snapshot
   * holds the configuration as of its last included index). Not the core's: a leader's snapshot
   * received while a Ready is handled switches the core to that snapshot's later membership
   * before the driver has applied up to it.
   */
  #appliedConf: ConfState;
  #snapshotIndex: number;
  #snapshotting = false;
  /** Size of the last snapshot taken or restored, and entry bytes applied since it was taken. */
  #snapshotBytes = 0;
  #appliedBytesSinceSnapshot = 0;
  #savedHard: HardState;
  #role: Role = "follower";
  #leaderId: NodeId = NO_NODE;
  #appliedListeners = new Set<() => void>();
  #gather: (() => void) | undefined;
  #leaderListeners = new Set<(leaderId: NodeId, role: Role) => void>();
  readonly counters = { leaderChanges: 0, elections: 0 };

  private constructor(o: NodeDriverOptions, raw: RawNode, hard: HardState, snap?: Snapshot) {
    this.#o = o;
    this.id = o.raft.id;
    this.#raw = raw;
    this.#savedHard = hard;
    this.urls = new MemberUrls(o.bootstrapUrls);
    this.identities = new Identities(o.raft.id, o.dataIncarnation);
    this.#readKeyPrefix = `${this.id}:${o.incarnation ?? randomIncarnation()}:`;
    this.#appliedTerm = 0;
    // Without a snapshot the core starts from no members and applies the bootstrap entries.
    this.#appliedConf = { voters: [], learners: [] };
    this.#snapshotIndex = snap?.meta.index ?? 0;
    this.#durableIndex = o.storage.log.lastIndex();
  }

  /**
   * Loads the durable state and starts ticking. The state machine restores the snapshot in the
   * background (`appliedIndex` stays 0 until it is done, so nothing reads a half-built state as
   * applied); meanwhile the node already takes part in Raft: it votes, and a leader's entries are
   * appended and counted toward commits.
   */
  static async open(o: NodeDriverOptions): Promise<NodeDriver> {
    const initial = await loadOrBootstrap(o);
    // The core keeps the snapshot to send it to followers: read back from its file when the
    // store can, so its bytes do not stay in memory once the state machine restored them.
    const stored = initial.snapshot && o.storage.snapshots.stored?.();
    const kept = stored && stored.meta.index === initial.snapshot!.meta.index ? stored : undefined;
    const raw = new RawNode(o.raft, { ...initial, snapshot: kept ?? initial.snapshot });
    const d = new NodeDriver(o, raw, initial.hardState, initial.snapshot);
    if (initial.snapshot && kept) d.#releaseAfterRestore.add(initial.snapshot);
    if (initial.snapshot) {
      // The member URLs now (the header is cheap), so links to every member work at once.
      const header = unwrapSnapshot(initial.snapshot.data);
      d.urls.replace(header.urls);
      d.identities.replace(header.incarnations);
      d.#restoringAtStart = true;
      d.#enqueueApply({ snapshot: initial.snapshot });
    }
    o.log("info", "node_started", {
      term: initial.hardState.term,
      commit: initial.hardState.commit,
      snapshotIndex: initial.snapshot?.meta.index ?? 0,
      entries: initial.entries.length,
    });
    d.#stopTicker = o.startTicker(o.tickMs, () => d.#tick());
    d.#kick();
    return d;
  }

  /** Steps messages that arrived from peers. */
  receive(messages: readonly Message[]): void {
    if (this.#closed) return;
    for (const m of messages) {
      const verdict = this.identities.check(m);
      if (verdict.kind === "stale_self") {
        // Only a leader stamps the receiver's record, once it applied every membership change
        // in its log: from one of this term or later, that is the committed record.
        if (m.term < this.#raw.status().term) continue;
        const own = this.#o.dataIncarnation ?? "";
        this.#fatal(new StaleIncarnationError(this.id, own, verdict.recorded, m.from));
        return;
      }
      if (verdict.kind === "stale_sender") {
        this.#warnStale(m.from, verdict.recorded, verdict.got);
        continue;
      }
      this.#raw.step(m);
    }
    this.#kick();
  }

  /** A member came back with another data directory: its messages are dropped (identity.ts). */
  #warnStale(from: NodeId, recorded: string, got: string): void {
    const last = this.#staleWarned.get(from);
    if (last !== undefined && this.#ticks - last < 100) return;
    this.#staleWarned.set(from, this.#ticks);
    this.#o.log("warn", "member_incarnation_refused", {
      member: from,
      recorded,
      got,
      detail: `${from} came back with another data directory: it neither votes nor counts ` +
        `toward commits until it is removed and added again`,
    });
  }

  /** Leader: records the incarnation of a member not recorded yet (one at a time). */
  #maybeIdentify(): void {
    if (this.#identifying || this.#ticks % IDENTIFY_EVERY_TICKS !== 0) return;
    if (this.#raw.status().role !== "leader") return;
    const cc = this.identities.toRecord(this.#appliedConf);
    if (cc === undefined) return;
    this.#identifying = true;
    this.proposeConfChange(cc, 10 * IDENTIFY_EVERY_TICKS * this.#o.tickMs)
      .finally(() => this.#identifying = false);
  }

  /**
   * Installs what gathers proposals queued above the driver (the broker's batches of proposals,
   * src/server/proposal_batcher.ts): it runs, synchronously, before the ready loop takes each
   * Ready and once at `close`, and proposes through `propose`. So what queued while the previous
   * Ready's fsync ran goes into the next one (group commit), as one entry if the gatherer
   * makes one of it; once closed, `propose` answers `closed` to what was still queued.
   */
  setProposalGatherer(gather: () => void): void {
    this.#gather = gather;
  }

  /** Runs the ready loop soon (and the gatherer with it) if it is not running. */
  wake(): void {
    this.#kick();
  }

  /** Whether this node leads now: a proposal made in this step would be accepted. */
  get leading(): boolean {
    return this.#raw.role === "leader";
  }

  /** Proposes `data`; resolves once it is applied here, or with why it will not be. */
  propose(data: Uint8Array, timeoutMs: number): Promise<DriverProposeOutcome> {
    if (this.#closed) return Promise.resolve({ ok: false, reason: "closed" });
    const r = this.#raw.propose(data);
    if (!r.ok) {
      const leaderId = r.reason === "not_leader" ? r.leaderId : NO_NODE;
      return Promise.resolve({ ok: false, reason: "not_leader", leaderId });
    }
    this.#kick();
    return this.#track(r.index, r.term, timeoutMs);
  }

  /** Linearizable read barrier: resolves once the read index is applied here. */
  readIndex(timeoutMs: number): Promise<DriverReadOutcome> {
    if (this.#closed) return Promise.resolve({ ok: false, reason: "closed" });
    if (this.#raw.status().leaderId === NO_NODE) {
      return Promise.resolve({ ok: false, reason: "no_leader" });
    }
    const key = `${this.#readKeyPrefix}${++this.#readSeq}`;
    const deadlineTick = this.#ticks + this.#timeoutTicks(timeoutMs);
    const term = this.#raw.status().term;
    const p = new Promise<DriverReadOutcome>((resolve) => {
      this.#reads.set(key, { deadlineTick, term, resolve });
    });
    this.#raw.readIndex(new TextEncoder().encode(key));
    this.#kick();
    return p;
  }

  /** Proposes a membership change; resolves once it is applied here. */
  proposeConfChange(cc: ConfChange, timeoutMs: number): Promise<
    DriverProposeOutcome | { ok: false; reason: "rejected"; detail: string }
  > {
    if (this.#closed) return Promise.resolve({ ok: false, reason: "closed" });
    const r = this.#raw.proposeConfChange(cc);
    if (!r.ok) {
      switch (r.reason) {
        case "not_leader":
          return Promise.resolve({ ok: false, reason: "not_leader", leaderId: r.leaderId });
        case "invalid_conf_change":
          return Promise.resolve({ ok: false, reason: "rejected", detail: r.detail });
        default:
          return Promise.resolve({ ok: false, reason: "rejected", detail: r.reason });
      }
    }
    this.#kick();
    return this.#track(r.index, r.term, timeoutMs);
  }

  /** Starts a leadership transfer (dissertation §3.10). */
  transferLeadership(to?: NodeId) {
    const r = this.#raw.transferLeadership(to);
    this.#kick();
    return r;
  }

  status(): RaftStatus {
    return this.#raw.status();
  }

  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** True until the snapshot this node started from is restored into the state machine. */
  get restoring(): boolean {
    return this.#restoringAtStart;
  }

  /** True while a snapshot of this node's state is being taken (captured, encoded, saved). */
  get snapshotting(): boolean {
    return this.#snapshotting;
  }

  /** Resolves once `index` is applied here, or false after `timeoutMs`. */
  waitApplied(index: number, timeoutMs: number): Promise<boolean> {
    if (this.#appliedIndex >= index) return Promise.resolve(true);
    return this.#applied.wait(index, this.#ticks + this.#timeoutTicks(timeoutMs));
  }

  onApplied(listener: () => void): () => void {
    this.#appliedListeners.add(listener);
    return () => this.#appliedListeners.delete(listener);
  }

  onLeaderChange(listener: (leaderId: NodeId, role: Role) => void): () => void {
    this.#leaderListeners.add(listener);
    return () => this.#leaderListeners.delete(listener);
  }

  /**
   * Stops ticking, fails every waiter and waits for the ready loop. The storage stays open: whoever
   * opened it closes it.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopTicker();
    this.#gather?.();
    for (const p of this.#proposals.values()) p.resolve({ ok: false, reason: "closed" });
    this.#proposals.clear();
    for (const r of this.#reads.values()) r.resolve({ ok: false, reason: "closed" });
    this.#reads.clear();
    this.#applied.failAll();
    for (let i = 0; i < 200 && this.#running; i++) await new Promise((r) => setTimeout(r, 5));
  }

  /**
   * Waits for the entry proposed at (index, term). An older proposal still waiting on the same
   * index was overwritten: had it committed, this leader would hold it there (Raft §5.4).
   */
  #track(index: number, term: number, timeoutMs: number): Promise<DriverProposeOutcome> {
    this.#proposals.get(index)?.resolve({ ok: false, reason: "dropped" });
    return new Promise((resolve) => {
      this.#proposals.set(index, {
        term,
        deadlineTick: this.#ticks + this.#timeoutTicks(timeoutMs),
        resolve,
      });
    });
  }

  #timeoutTicks(timeoutMs: number): number {
    return Math.max(1, Math.ceil(timeoutMs / this.#o.tickMs));
  }

  #tick(): void {
    if (this.#closed) return;
    this.#ticks++;
    this.#raw.tick();
    this.#expire();
    this.#maybeIdentify();
    this.#kick();
  }

  /** Fails proposals and reads whose time is up. A proposal's outcome is then unknown. */
  #expire(): void {
    for (const [index, p] of this.#proposals) {
      if (p.deadlineTick <= this.#ticks) {
        this.#proposals.delete(index);
        p.resolve({ ok: false, reason: "unknown_outcome" });
      }
    }
    for (const [key, r] of this.#reads) {
      if (r.deadlineTick <= this.#ticks) {
        this.#reads.delete(key);
        r.resolve({ ok: false, reason: "timeout" });
      }
    }
    this.#applied.expire(this.#ticks);
  }

  #kick(): void {
    if (this.#running || this.#closed) return;
    this.#running = true;
    queueMicrotask(() => this.#loop());
  }

  async #loop(): Promise<void> {
    try {
      for (let i = 0; i < 1_000_000 && !this.#closed; i++) {
        this.#gather?.();
        if (!this.#raw.hasReady()) break;
        await this.#handle(this.#raw.ready());
      }
    } catch (e) {
      this.#fatal(e);
      return;
    } finally {
      this.#running = false;
    }
    if (!this.#closed && this.#raw.hasReady()) this.#kick();
  }

  async #handle(rd: Ready): Promise<void> {
    if (rd.softState) this.#onSoftState(rd.softState.leaderId, rd.softState.role);
    if (rd.messages.length > 0) this.#send(rd.messages);
    // Committed entries that were durable here before this Ready apply while its persist runs:
    // they are committed (on a majority's disks) and in our durable log, so nothing about them
    // waits for this fsync. On a leader that is every committed entry (it counts itself only
    // for what it persisted), so answers no longer wait one more fsync. Entries that arrive in
    // this very Ready (a follower told of their commit with them) still apply after the persist.
    const early = rd.snapshot ? 0 : durablePrefix(rd.committedEntries, this.#durableIndex);
    if (early > 0) this.#enqueueApply({ entries: rd.committedEntries.slice(0, early) });
    await this.#persist(rd);
    if (this.#closed) return;
    if (rd.messagesAfterPersist.length > 0) this.#send(rd.messagesAfterPersist);
    // In order: no entry after the snapshot applies before the state it follows.
    if (rd.snapshot) this.#enqueueApply({ snapshot: rd.snapshot });
    this.#enqueueApply({
      entries: early > 0 ? rd.committedEntries.slice(early) : rd.committedEntries,
    });
    this.#answerReads(rd);
    this.#raw.advance(rd);
    if (rd.snapshot) this.#keepStoredSnapshot(rd.snapshot);
    if (this.#confAnswersLater.length > 0) this.#answerConfChanges();
    if (this.#compactLater) this.#compactCore(this.#compactLater);
    if (this.#readsToReissue) this.#reissueReads();
  }

  /**
   * Sends with this node's incarnation and, from a leader whose membership changes are all
   * applied here, the receiver's recorded one (identity.ts).
   */
  #send(messages: readonly Message[]): void {
    if (this.#o.dataIncarnation === undefined) return this.#o.sink.send(messages);
    const s = this.#raw.status();
    const withTo = s.role === "leader" && this.#appliedIndex >= s.pendingConfIndex;
    this.#o.sink.send(messages.map((m) => this.identities.stamp(m, withTo)));
  }

  /** Answers the membership changes the core now counts applied (see `#confAnswersLater`). */
  #answerConfChanges(): void {
    const applied = this.#raw.status().applied;
    const due = this.#confAnswersLater.filter((e) => e.index <= applied);
    this.#confAnswersLater = this.#confAnswersLater.filter((e) => e.index > applied);
    for (const e of due) this.#settle(e, undefined);
  }

  /**
   * A leader's snapshot, now persisted, is kept by the core as the store reads it back (not the
   * received bytes, which go once the state machine restored them).
   */
  #keepStoredSnapshot(received: Snapshot): void {
    const { index, term } = received.meta;
    const stored = this.#o.storage.snapshots.stored?.();
    if (stored && stored.meta.index === index && stored.meta.term === term) {
      this.#compactCore(stored);
      this.#releaseAfterRestore.add(received);
    }
  }

  /**
   * Compacts the core's log behind a snapshot this node took. The apply worker may run ahead of
   * the core's applied index (it applies durable committed entries while a Ready's persist runs,
   * and the core counts them applied at `advance()`): then the compaction waits for that advance.
   */
  #compactCore(snapshot: StoredSnapshot): void {
    if (this.#raw.status().applied < snapshot.meta.index) {
      this.#compactLater = snapshot;
      return;
    }
    this.#compactLater = undefined;
    this.#raw.compact(snapshot);
  }

  /** Queues state-machine work and starts the apply worker if it is idle. */
  #enqueueApply(w: ApplyWork): void {
    if ("entries" in w && w.entries.length === 0) return;
    // A snapshot holds everything queued before it (the core accepts only a snapshot beyond its
    // commit index): restoring it makes that work moot.
    if ("snapshot" in w) this.#applyQueue.length = 0;
    this.#applyQueue.push(w);
    if (this.#applyRunning) return;
    this.#applyRunning = true;
    queueMicrotask(() => this.#runApply());
  }

  /**
   * The apply worker: restores and applies queued work in order, a slice at a time with a
   * `pace()` between slices, so a long replay never holds the event loop; takes a snapshot when
   * one is due, between two slices (capture sees one applied index).
   */
  async #runApply(): Promise<void> {
    const pace = this.#o.pace ?? noPace;
    try {
      for (let guard = 0; guard < 1e9 && !this.#closed && this.#applyQueue.length > 0; guard++) {
        const w = this.#applyQueue.shift()!;
        if ("snapshot" in w) await this.#restore(w.snapshot);
        else {
          for (let at = 0; at < w.entries.length && !this.#closed; at += APPLY_SLICE_ENTRIES) {
            this.#apply(w.entries.slice(at, at + APPLY_SLICE_ENTRIES));
            // After every slice, the last one included: work that piled up (many small items,
            // say while a capture held the worker) must not run back to back without a turn.
            await pace();
          }
        }
        await this.#maybeSnapshot();
      }
    } catch (e) {
      this.#fatal(e);
    } finally {
      this.#applyRunning = false;
    }
  }

  /**
   * Asks the current leader again for every pending read. A leader that loses its office drops
   * the ReadIndex requests it holds (a new leader cannot confirm an old term's heartbeat round,
   * dissertation §6.4), so without this a read that reached a deposed leader waits for its whole
   * timeout although the new leader could answer it at once. A late answer to the first request
   * finds the key settled and is ignored; either answer is a valid read index.
   */
  #reissueReads(): void {
    this.#readsToReissue = false;
    if (this.#leaderId === NO_NODE) return;
    const term = this.#raw.status().term;
    for (const [key, r] of this.#reads) {
      r.term = term;
      this.#raw.readIndex(new TextEncoder().encode(key));
    }
  }

  /** Snapshot, then entries, then hard state (the order of the Ready contract). */
  async #persist(rd: Ready): Promise<void> {
    const { log, hardState, snapshots } = this.#o.storage;
    const t0 = this.#o.nowMs?.() ?? 0;
    if (rd.snapshot) {
      const meta = rd.snapshot.meta;
      await snapshots.save(rd.snapshot);
      // Raft §7: keep the log's suffix only when it holds the snapshot's last entry.
      if (log.term(meta.index) === meta.term) await log.compact(meta.index);
      else await log.reset(meta.index + 1);
    }
    if (rd.entries.length > 0) {
      await log.append(rd.entries);
      // A suffix replaced by a new leader's entries is gone: what is durable ends here.
      this.#durableIndex = rd.entries[rd.entries.length - 1].index;
    } else if (rd.snapshot) this.#durableIndex = Math.max(log.lastIndex(), rd.snapshot.meta.index);
    // When the commit must be saved too: hard_state_policy.ts.
    const hs = hardStateToSave(this.#savedHard, rd, this.#o.snapshotEveryEntries);
    if (hs) {
      await hardState.save(hs);
      this.#savedHard = hs;
    }
    if (this.#o.observePersistMs && (rd.entries.length > 0 || rd.snapshot)) {
      this.#o.observePersistMs((this.#o.nowMs?.() ?? 0) - t0);
    }
  }

  #apply(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    for (const e of entries) {
      if (e.index <= this.#appliedIndex) continue;
      let result: unknown = undefined;
      if (e.kind === EntryKind.ConfChange) {
        const cc = decodeConfChange(e.data);
        this.urls.applyConfChange(cc);
        this.identities.applyConfChange(cc);
        this.#appliedConf = applyConfChange(this.#appliedConf, cc);
        this.#o.log("info", "membership_changed", { index: e.index, ...cc });
      } else if (e.data.length > 0) {
        result = this.#o.stateMachine.apply(e.index, e.data);
      }
      this.#appliedBytesSinceSnapshot += e.data.length;
      this.#appliedIndex = e.index;
      this.#appliedTerm = e.term;
      this.#settle(e, result);
    }
    this.#applied.release(this.#appliedIndex);
    for (const l of this.#appliedListeners) l();
  }

  /**
   * Membership changes applied here before the core counted them applied (the worker runs ahead
   * of `advance()`): answered after that advance, as the core refuses another change until then.
   */
  #confAnswersLater: Entry[] = [];

  /** Resolves the proposal waiting on `e.index`, if any: ours only if the term matches. */
  #settle(e: Entry, result: unknown): void {
    const p = this.#proposals.get(e.index);
    if (!p) return;
    if (e.kind === EntryKind.ConfChange && this.#raw.status().applied < e.index) {
      this.#confAnswersLater.push(e);
      return;
    }
    this.#proposals.delete(e.index);
    p.resolve(
      p.term === e.term ? { ok: true, index: e.index, result } : {
        ok: false,
        reason: "dropped",
      },
    );
  }

  #answerReads(rd: Ready): void {
    for (const rs of rd.readStates) {
      const key = new TextDecoder().decode(rs.context);
      const r = this.#reads.get(key);
      if (!r || rs.term < r.term) continue;
      this.#reads.delete(key);
      this.waitApplied(rs.index, Math.max(1, r.deadlineTick - this.#ticks) * this.#o.tickMs)
        .then((ok) =>
          r.resolve(ok ? { ok: true, index: rs.index } : { ok: false, reason: "timeout" })
        );
    }
  }

  async #restore(snap: Snapshot): Promise<void> {
    const t0 = this.#o.nowMs?.() ?? 0;
    const { urls, incarnations, app } = unwrapSnapshot(snap.data);
    await this.#o.stateMachine.restore(app, this.#o.pace ?? noPace);
    this.urls.replace(urls);
    this.identities.replace(incarnations);
    // Proposals the snapshot jumped over: we cannot tell whether they were applied.
    for (const [index, p] of this.#proposals) {
      if (index <= snap.meta.index) {
        this.#proposals.delete(index);
        p.resolve({ ok: false, reason: "unknown_outcome" });
      }
    }
    this.#appliedIndex = Math.max(this.#appliedIndex, snap.meta.index);
    this.#restoringAtStart = false;
    this.#appliedTerm = snap.meta.term;
    this.#appliedConf = snap.meta.conf;
    this.#snapshotIndex = Math.max(this.#snapshotIndex, snap.meta.index);
    this.#snapshotBytes = snap.data.length;
    this.#appliedBytesSinceSnapshot = 0;
    this.#o.log("info", "snapshot_restored", {
      index: snap.meta.index,
      bytes: snap.data.length,
      ms: Math.round((this.#o.nowMs?.() ?? 0) - t0),
    });
    if (this.#releaseAfterRestore.has(snap)) releaseBytes(snap.data);
    this.#o.collectGarbage?.();
    // Like applied entries: waiters and listeners (the transport follows `urls`) hear of it now,
    // not with whatever entry applies next.
    this.#applied.release(this.#appliedIndex);
    for (const l of this.#appliedListeners) l();
  }

  /**
   * Takes a snapshot once enough entries, and enough bytes of them, were applied since the last
   * (`snapshotEveryEntries`, `snapshotLogFactor`). Called by the apply worker between slices and
   * resolves once the state is captured: the capture may work in paced steps, and nothing is
   * applied meanwhile (Raft goes on). Encoding and saving then run in the background.
   */
  async #maybeSnapshot(): Promise<void> {
    if (this.#snapshotting || this.#closed) return;
    // A leader's snapshot waits in the queue: it replaces this state, no use saving this one.
    if (this.#applyQueue.some((w) => "snapshot" in w)) return;
    const entries = this.#appliedIndex - this.#snapshotIndex;
    const bytesCapped = entries > 0 &&
      this.#appliedBytesSinceSnapshot >= (this.#o.snapshotLogBytesMax ?? Infinity);
    if (entries < this.#o.snapshotEveryEntries && !bytesCapped) return;
    const factor = this.#o.snapshotLogFactor ?? 0;
    const capped = bytesCapped || entries >= (this.#o.snapshotEntriesMax ?? Infinity);
    if (!capped && this.#appliedBytesSinceSnapshot < factor * this.#snapshotBytes) return;
    this.#snapshotting = true;
    this.#appliedBytesSinceSnapshot = 0;
    const meta = {
      index: this.#appliedIndex,
      term: this.#appliedTerm,
      conf: this.#appliedConf,
    };
    const urls = this.urls.entries();
    const incarnations = this.identities.entries();
    this.#o.log("info", "snapshot_started", { index: meta.index });
    const t0 = this.#o.nowMs?.() ?? 0;
    const pace = this.#o.pace ?? noPace;
    let view: SnapshotView;
    try {
      view = await this.#o.stateMachine.snapshot(pace);
    } catch (e) {
      this.#snapshotting = false;
      throw e;
    }
    const captureMs = (this.#o.nowMs?.() ?? 0) - t0;
    (async () => {
      // Every step paced, so a large state never stalls ticks and I/O (no election on the way).
      const store = this.#o.storage.snapshots;
      let snapshot: StoredSnapshot;
      if (store.saveStream && view.stream) {
        // Each part written and let go before the next is encoded: never the whole state.
        const [header] = snapshotParts(urls, [], incarnations);
        const stream = view.stream(pace);
        snapshot = await store.saveStream(
          meta,
          (async function* () {
            yield header;
            yield* stream;
          })(),
        );
      } else {
        const app = await view.serialize(pace);
        snapshot = await this.#saveSnapshot(meta, snapshotParts(urls, app, incarnations), pace);
      }
      if (this.#closed || meta.index <= this.#snapshotIndex) return;
      this.#compactCore(snapshot);
      this.#snapshotIndex = meta.index;
      this.#snapshotBytes = snapshot.data.byteLength;
      await this.#o.storage.log.compact(meta.index);
      this.#o.log("info", "snapshot_taken", {
        index: meta.index,
        bytes: snapshot.data.byteLength,
        captureMs: Math.round(captureMs),
        ms: Math.round((this.#o.nowMs?.() ?? 0) - t0),
      });
    })().catch((e) => this.#fatal(e)).finally(() => {
      this.#snapshotting = false;
    });
  }

  /**
   * Saves a snapshot taken here. A store that writes parts streams them to its file and reads
   * them back for the core on demand: no copy of the whole state is made or kept. Otherwise the
   * parts are joined (paced) and the core keeps those bytes.
   */
  async #saveSnapshot(
    meta: SnapshotMeta,
    parts: readonly Uint8Array[],
    pace: Pace,
  ): Promise<StoredSnapshot> {
    const store = this.#o.storage.snapshots;
    if (store.saveParts) return await store.saveParts(meta, parts);
    const snapshot: Snapshot = { meta, data: await joinParts(parts, pace) };
    await store.save(snapshot);
    return snapshot;
  }

  #onSoftState(leaderId: NodeId, role: Role): void {
    if (role === "candidate" && this.#role !== "candidate") this.counters.elections++;
    if (leaderId !== this.#leaderId) {
      // Re-asked after advance(): stepping the core between ready() and advance() is not allowed.
      if (leaderId !== NO_NODE && this.#reads.size > 0) this.#readsToReissue = true;
      this.counters.leaderChanges++;
      this.#o.log("info", "leader_changed", { leaderId, role, term: this.#raw.status().term });
    }
    this.#leaderId = leaderId;
    this.#role = role;
    for (const l of this.#leaderListeners) l(leaderId, role);
  }

  #fatal(e: unknown): void {
    if (this.#closed) return;
    this.#o.log("error", "node_fatal", { error: String((e as Error)?.stack ?? e) });
    this.#closed = true;
    this.#stopTicker();
    this.#o.onFatal(e);
  }
}

/** 64 random bits in hex: one incarnation of a node among all of its starts. */
function randomIncarnation(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * Frees the memory under `bytes` now (`ArrayBuffer.prototype.transfer(0)` detaches it): for
 * bytes, such as a restored snapshot's, that nothing will read again.
 */
function releaseBytes(bytes: Uint8Array): void {
  try {
    (bytes.buffer as ArrayBuffer).transfer(0);
  } catch {
    // Not detachable (a shared or a host-owned buffer): the garbage collector frees it later.
  }
}

/** How many of `entries` (in index order) are at or below `durableIndex`. */
function durablePrefix(entries: readonly Entry[], durableIndex: number): number {
  let n = 0;
  while (n < entries.length && entries[n].index <= durableIndex) n++;
  return n;
}
