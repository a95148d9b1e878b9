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
  type ConfChange,
  type HardState,
  type Message,
  NO_NODE,
  type NodeId,
  type RaftStatus,
  RawNode,
  type Ready,
  type Role,
  type StoredSnapshot,
} from "../raft/mod.ts";
import { loadOrBootstrap } from "./bootstrap.ts";
import { ApplyWorker } from "./driver_apply.ts";
import type {
  DriverHost,
  DriverProposeOutcome,
  DriverReadOutcome,
  NodeDriverOptions,
} from "./driver_options.ts";
import { PendingProposals } from "./driver_proposals.ts";
import { PendingReads } from "./driver_reads.ts";
import { DriverSnapshots } from "./driver_snapshots.ts";
import { ReadyPersister } from "./driver_persist.ts";
import { PersistOverlap, prefixThrough } from "./driver_overlap.ts";
import { sendBeforeOwnWrite } from "./driver_sends.ts";
import { Identities, StaleIncarnationError } from "./identity.ts";
import { MemberUrls, unwrapSnapshot, UrlsAhead } from "./membership.ts";

export type { DriverProposeOutcome, DriverReadOutcome, NodeDriverOptions };

/** Default `commitNoticeDelayMs`. */
const COMMIT_NOTICE_DELAY_MS = 2;

/** How often (in ticks) a leader looks for a member whose incarnation is not recorded yet. */
const IDENTIFY_EVERY_TICKS = 5;

/** Runs one Raft node. Create with `NodeDriver.open`. */
export class NodeDriver {
  readonly id: NodeId;
  readonly urls: MemberUrls;
  readonly identities: Identities;
  #ahead = new UrlsAhead(new MemberUrls(), [], 0);
  /** An `identify` this leader proposed that has not settled yet. */
  #identifying = false;
  /** Per peer: the tick of the last warning about its stale incarnation (one per 100 ticks). */
  readonly #staleWarned = new Map<NodeId, number>();
  #raw: RawNode;
  #o: NodeDriverOptions;
  #ticks = 0;
  #running = false;
  /** What goes out and applies while a Ready persists (driver_overlap.ts). */
  readonly #overlap: PersistOverlap;
  #closed = false;
  #stopTicker: () => void = () => {};
  /** Cancels the pending commit notice (`#noticeCommit`), if one is set. */
  #cancelNotice: (() => void) | undefined;
  readonly #proposals: PendingProposals;
  readonly #reads: PendingReads;
  readonly #snapshots: DriverSnapshots;
  readonly #apply: ApplyWorker;
  /** Persists each Ready: snapshot, entries, hard state (driver_persist.ts). */
  readonly #persister: ReadyPersister;
  #role: Role = "follower";
  #leaderId: NodeId = NO_NODE;
  #gather: (() => void) | undefined;
  #leaderListeners = new Set<(leaderId: NodeId, role: Role) => void>();
  readonly counters = { leaderChanges: 0, elections: 0 };

  private constructor(o: NodeDriverOptions, raw: RawNode, hard: HardState, snap?: StoredSnapshot) {
    this.#o = o;
    this.id = o.raft.id;
    this.#raw = raw;
    this.urls = new MemberUrls(o.bootstrapUrls);
    this.identities = new Identities(o.raft.id, o.dataIncarnation);
    this.#reads = new PendingReads(this.id, o.incarnation);
    this.#proposals = new PendingProposals(() => this.#raw.status().applied);
    const host = this.#host();
    this.#snapshots = new DriverSnapshots(host, snap?.meta.index ?? 0);
    this.#apply = new ApplyWorker(host, this.#proposals, this.#snapshots);
    this.#persister = new ReadyPersister(o, hard);
    this.#overlap = new PersistOverlap({
      raw,
      gather: () => this.#gather?.(),
      send: (msgs) => this.#send(msgs),
      apply: (entries) => this.#apply.enqueue({ entries }),
      isClosed: () => this.#closed,
    });
  }

  /** What the apply worker and the snapshots share with the driver. */
  #host(): DriverHost {
    return {
      o: this.#o,
      raw: this.#raw,
      urls: this.urls,
      identities: this.identities,
      isClosed: () => this.#closed,
      fatal: (e) => this.#fatal(e),
    };
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
    const log = o.storage.log;
    const raw = new RawNode(o.raft, {
      ...initial,
      snapshot: kept ?? initial.snapshot,
      // The core keeps its newest entries in memory and reads older ones back from the log.
      ...(log.readEntries
        ? { entryReader: { readEntries: (lo, hi, max) => log.readEntries!(lo, hi, max) } }
        : {}),
    });
    const d = new NodeDriver(o, raw, initial.hardState, initial.snapshot);
    if (initial.snapshot && kept) d.#snapshots.releaseAfterRestore(initial.snapshot);
    if (initial.snapshot) {
      // The member URLs now (the header is cheap), so links to every member work at once.
      const header = unwrapSnapshot(initial.snapshot.data);
      d.urls.replace(header.urls);
      d.identities.replace(header.incarnations);
      d.#apply.restoreAtStart(initial.snapshot);
    }
    d.#ahead = new UrlsAhead(d.urls, initial.entries, initial.snapshot?.meta.index ?? 0);
    d.#apply.watchReplay(initial.hardState.commit, initial.entries.at(-1)?.index ?? 0);
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
      try {
        this.#raw.step(m);
      } catch (e) {
        // Not thrown into the transport: the node stops, saying why (LostLogError, a bug).
        this.#fatal(e);
        return;
      }
    }
    this.#kick();
    this.#overlap.run();
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
    const cc = this.identities.toRecord(this.#apply.conf);
    if (cc === undefined) return;
    this.#identifying = true;
    this.proposeConfChange(cc, 10 * IDENTIFY_EVERY_TICKS * this.#o.tickMs)
      .finally(() => this.#identifying = false);
  }

  /**
   * Installs what gathers proposals queued above the driver (the broker's batches of proposals,
   * src/server/proposal_batcher.ts): it runs, synchronously, before the ready loop takes each
   * Ready, while a persist runs when a follower has nothing in flight (driver_overlap.ts),
   * and once at `close`, and proposes through `propose`. So what queued while the previous
   * Ready's fsync ran, or while the followers wrote the last batch, goes out together (group
   * commit), as one entry if the gatherer makes one of it; once closed, `propose` answers
   * `closed` to what was still queued.
   */
  setProposalGatherer(gather: () => void): void {
    this.#gather = gather;
  }

  /** Runs the ready loop soon (and the gatherer with it) if it is not running. */
  wake(): void {
    this.#kick();
    this.#overlap.soon();
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
    this.#overlap.soon();
    return this.#track(r.index, r.term, timeoutMs);
  }

  /** Linearizable read barrier: resolves once the read index is applied here. */
  readIndex(timeoutMs: number): Promise<DriverReadOutcome> {
    if (this.#closed) return Promise.resolve({ ok: false, reason: "closed" });
    if (this.#raw.status().leaderId === NO_NODE) {
      return Promise.resolve({ ok: false, reason: "no_leader" });
    }
    const p = this.#reads.ask(this.#raw, this.#ticks + this.#timeoutTicks(timeoutMs));
    this.wake(); // its heartbeat round leaves during a persist too
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
    return this.#apply.index;
  }

  /** Dial targets while the node replays the log it opened with (`UrlsAhead`, chaos F10). */
  get urlsAhead(): readonly [NodeId, string][] {
    return this.#ahead.at(this.#apply.index);
  }

  /** True until the snapshot this node started from is restored into the state machine. */
  get restoring(): boolean {
    return this.#apply.restoring;
  }

  /** True while a snapshot of this node's state is being taken (captured, encoded, saved). */
  get snapshotting(): boolean {
    return this.#snapshots.snapshotting;
  }

  /**
   * True while the ready loop runs (a Ready being persisted, sent or handed to the apply worker).
   * A hand-driven test ticker waits for it so that a slow fsync is not read as a dead leader.
   */
  get readyLoopRunning(): boolean {
    return this.#running;
  }

  /** Resolves once `index` is applied here, or false after `timeoutMs`. */
  waitApplied(index: number, timeoutMs: number): Promise<boolean> {
    if (this.#apply.index >= index) return Promise.resolve(true);
    return this.#apply.waiters.wait(index, this.#ticks + this.#timeoutTicks(timeoutMs));
  }

  onApplied(listener: () => void): () => void {
    return this.#apply.onApplied(listener);
  }

  onLeaderChange(listener: (leaderId: NodeId, role: Role) => void): () => void {
    this.#leaderListeners.add(listener);
    return () => this.#leaderListeners.delete(listener);
  }

  /**
   * Stops ticking, fails every waiter and waits for the ready loop and for a snapshot save in the
   * background to stop (`DriverSnapshots.settled`). The storage stays open: whoever opened it
   * closes it.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopTicker();
    this.#cancelNotice?.();
    this.#gather?.();
    this.#proposals.close();
    this.#reads.close();
    this.#apply.waiters.failAll();
    this.#apply.close();
    for (let i = 0; i < 200 && this.#running; i++) await new Promise((r) => setTimeout(r, 5));
    await this.#snapshots.settled();
  }

  /** Waits for the entry proposed at (index, term); see `PendingProposals.track`. */
  #track(index: number, term: number, timeoutMs: number): Promise<DriverProposeOutcome> {
    return this.#proposals.track(index, term, this.#ticks + this.#timeoutTicks(timeoutMs));
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
    this.#overlap.run();
  }

  /** Fails proposals and reads whose time is up. A proposal's outcome is then unknown. */
  #expire(): void {
    this.#proposals.expire(this.#ticks);
    this.#reads.expire(this.#ticks);
    this.#apply.waiters.expire(this.#ticks);
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
    if (this.#closed) return;
    this.#noticeCommit();
    if (this.#raw.hasReady()) this.#kick();
  }

  /**
   * Leader with `deferCommitNotice`: a commit that no append carried to the followers goes to
   * them after `commitNoticeDelayMs`, unless the next proposal's append carries it first (a
   * publisher waiting for each answer sends the next one well within that).
   */
  #noticeCommit(): void {
    if (!this.#raw.commitUnsent) return this.#dropNotice();
    if (this.#cancelNotice !== undefined) return;
    const start = this.#o.startTimer;
    if (start === undefined) return this.#raw.sendCommit();
    this.#cancelNotice = start(this.#o.commitNoticeDelayMs ?? COMMIT_NOTICE_DELAY_MS, () => {
      this.#cancelNotice = undefined;
      if (this.#closed) return;
      this.#raw.sendCommit();
      this.#kick();
    });
  }

  #dropNotice(): void {
    this.#cancelNotice?.();
    this.#cancelNotice = undefined;
  }

  async #handle(rd: Ready): Promise<void> {
    if (rd.softState) this.#onSoftState(rd.softState.leaderId, rd.softState.role);
    const sendRest = sendBeforeOwnWrite(rd, (msgs) => this.#send(msgs));
    // An append carried the commit the notice waits to send: a later commit gets a whole delay
    // of its own (counted from the first Ready it is unsent after), not what remains of this one.
    if (this.#cancelNotice !== undefined && !this.#raw.commitUnsent) this.#dropNotice();
    // A leader applies committed entries that wait for nothing of this persist while it runs
    // (`RawNode.applyAheadIndex`: a publish waits for the commit, not for the leader's fsync);
    // others after it. A follower applies after its persist and answer: nothing waits for it, and
    // during the round it took a core from the round (docs/mqtt.md, session 14).
    const ahead = !rd.snapshot && this.#raw.role === "leader";
    const early = ahead ? prefixThrough(rd.committedEntries, this.#raw.applyAheadIndex) : 0;
    this.#overlap.begin(ahead && early === rd.committedEntries.length);
    try {
      const persisted = sendRest(this.#persister.persist(rd, this.#raw.role));
      if (early > 0) this.#apply.enqueue({ entries: rd.committedEntries.slice(0, early) });
      await persisted;
      if (this.#closed) return;
      if (rd.messagesAfterPersist.length > 0) this.#send(rd.messagesAfterPersist);
      // In order: no entry after the snapshot applies before the state it follows.
      if (rd.snapshot) {
        this.#apply.enqueue({ snapshot: await this.#snapshots.toRestore(rd.snapshot) });
      }
    } finally {
      this.#overlap.end();
    }
    if (this.#closed) return;
    this.#apply.enqueue({
      entries: early > 0 ? rd.committedEntries.slice(early) : rd.committedEntries,
    });
    this.#reads.answer(
      rd.readStates,
      this.#ticks,
      this.#o.tickMs,
      (index, ms) => this.waitApplied(index, ms),
    );
    this.#raw.advance(rd);
    if (rd.snapshot) this.#snapshots.keepStoredSnapshot(rd.snapshot);
    if (this.#proposals.confAnswersWaiting) this.#proposals.answerConfChanges();
    this.#snapshots.compactPending();
    if (this.#reads.toReissue) this.#reads.reissue(this.#raw, this.#leaderId);
  }

  /**
   * Sends with this node's incarnation and, from a leader whose membership changes are all
   * applied here, the receiver's recorded one (identity.ts).
   */
  #send(messages: readonly Message[]): void {
    if (this.#o.dataIncarnation === undefined) return this.#o.sink.send(messages);
    const raw = this.#raw;
    const withTo = raw.role === "leader" && this.#apply.index >= raw.pendingConfIndex;
    this.#o.sink.send(messages.map((m) => this.identities.stamp(m, withTo)));
  }

  #onSoftState(leaderId: NodeId, role: Role): void {
    if (role === "candidate" && this.#role !== "candidate") this.counters.elections++;
    if (leaderId !== this.#leaderId) {
      // Re-asked after advance(): stepping the core between ready() and advance() is not allowed.
      if (leaderId !== NO_NODE && this.#reads.size > 0) this.#reads.toReissue = true;
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
