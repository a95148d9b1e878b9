/**
 * One simulated node: the real RawNode, a fake disk and the application, driven through the
 * Ready contract as a small state machine so a crash can fall between any two of its phases:
 *
 *   idle ─ready()→ persisting ─fsync done→ synced ─send after-persist→ sent ─apply→ applied
 *     ↑                                                                            │
 *     └──────────────────────────────── advance() ─────────────────────────────────┘
 *
 * Messages are stepped and ticks happen in every phase, as etcd's node loop keeps receiving
 * while a Ready is being handled.
 *
 * @module
 */

import { commitSettledConfChanges, hardStateToSave } from "../../../cluster/node/mod.ts";
import {
  type ConfState,
  decodeConfChange,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type RaftConfig,
  type RaftStatus,
  RawNode,
  type ReadState,
  type Ready,
  type Snapshot,
} from "../../../cluster/raft/mod.ts";
import type { SimApp, SimAppFactory } from "../app.ts";
import { Disk, type DiskWrite, lastIndexOf, termAt } from "../disk.ts";
import type { Prng } from "../prng.ts";

/** Where a node is in handling its current Ready. */
export type Phase = "idle" | "persisting" | "synced" | "sent" | "applied";

/** How the simulator observes a node; the run wires these to the network and the invariants. */
export interface NodeHooks {
  send(node: SimNode, m: Message): void;
  /** A Ready was written (unsynced); `removed` are the entries it overwrote or discarded. */
  onWrite(node: SimNode, w: DiskWrite, removed: readonly Entry[]): void;
  onSync(node: SimNode): void;
  onApply(node: SimNode, entry: Entry): void;
  onRestore(node: SimNode, snap: Snapshot): void;
  /** A ReadIndex request completed (dissertation §6.4). */
  onReadState(node: SimNode, rs: ReadState): void;
  trace(line: string): void;
}

/** Fault switches of the driver itself (never the core): used to prove the sim catches them. */
export interface DriverFaults {
  /** Send messagesAfterPersist together with `messages`, before the fsync (docs/reliability.md item 1). */
  readonly ackBeforePersist?: boolean;
  /**
   * With `driverHardState`: the saving policy before the production-settings fix (commit only with term/vote or
   * every threshold / 4 entries, not with membership changes) and no commit raised at load, so a
   * restarted node rebuilds the membership as of an older commit.
   */
  readonly staleConfOnRestart?: boolean;
}

/** The hard-state policy before the production-settings fix: the commit saved by count only (a broken variant). */
function savedByCountOnly(
  saved: HardState,
  hs: HardState | undefined,
  every: number,
): HardState | undefined {
  if (hs === undefined) return undefined;
  if (hs.term !== saved.term || hs.vote !== saved.vote) return hs;
  return hs.commit - saved.commit >= Math.max(1, Math.floor(every / 4)) ? hs : undefined;
}

/**
 * Applies one committed membership change to `conf`, as the sim tracks it independently of the
 * core (on apply, etcd-style; a change that does not fit the membership leaves it unchanged).
 */
export function applyConfChange(conf: ConfState, data: Uint8Array): ConfState {
  const cc = decodeConfChange(data);
  const isVoter = conf.voters.includes(cc.nodeId);
  const isLearner = conf.learners.includes(cc.nodeId);
  const without = (ids: readonly NodeId[]) => ids.filter((v) => v !== cc.nodeId);
  switch (cc.op) {
    case "add_learner":
      if (isVoter || isLearner) return conf;
      return { voters: conf.voters, learners: [...conf.learners, cc.nodeId].sort() };
    case "promote":
      if (!isLearner) return conf;
      return { voters: [...conf.voters, cc.nodeId].sort(), learners: without(conf.learners) };
    case "remove":
      if (!isVoter && !isLearner) return conf;
      if (isVoter && conf.voters.length === 1) return conf;
      return { voters: without(conf.voters), learners: without(conf.learners) };
    case "identify": // records a member's incarnation; the membership is unchanged
      return conf;
  }
}

/** A node of the simulated cluster. */
export class SimNode {
  readonly id: NodeId;
  readonly disk = new Disk();
  up = false;
  /** Bumped at every start, so the workload can tell an answer from a previous life. */
  incarnation = 0;
  phase: Phase = "idle";
  raw!: RawNode;
  app!: SimApp;
  appliedIndex = 0;
  appliedTerm = 0;
  /** The membership as of `appliedIndex`, tracked from applied entries (for snapshot metadata). */
  conf: ConfState;
  /** The durable commit index read back at the last start (commit must never go below it). */
  startCommit = 0;
  #rd: Ready | undefined;
  /** Committed entries taken while the Ready persists, applied after its own (`#whilePersisting`). */
  #taken: Entry[] = [];
  #nextCompactAt = 0;
  readonly #bootstrap: ConfState;
  readonly #configBase: Omit<RaftConfig, "random">;
  readonly #prng: Prng;
  readonly #appFactory: SimAppFactory;
  readonly #hooks: NodeHooks;
  readonly #faults: DriverFaults;
  readonly #compactGap: readonly [number, number];
  readonly #driverHardState: { readonly snapshotEveryEntries: number } | undefined;
  /** The last hard state written (with `driverHardState`). */
  #savedHard: HardState = { term: 0, vote: "", commit: 0 };

  constructor(opts: {
    id: NodeId;
    bootstrap: ConfState;
    config: Omit<RaftConfig, "random" | "id">;
    prng: Prng;
    appFactory: SimAppFactory;
    hooks: NodeHooks;
    faults?: DriverFaults;
    /** Applied entries between two snapshots, drawn in [lo, hi] each time. */
    compactGap?: readonly [number, number];
    /**
     * Save the hard state and load the initial state as the node driver does
     * (`hardStateToSave` with this threshold, `commitSettledConfChanges`) instead of with every
     * Ready: the production-setting seeds.
     */
    driverHardState?: { readonly snapshotEveryEntries: number };
  }) {
    this.id = opts.id;
    this.#bootstrap = opts.bootstrap;
    this.conf = opts.bootstrap;
    this.#configBase = { ...opts.config, id: opts.id };
    this.#prng = opts.prng;
    this.#appFactory = opts.appFactory;
    this.#hooks = opts.hooks;
    this.#faults = opts.faults ?? {};
    this.#compactGap = opts.compactGap ?? [20, 80];
    this.#driverHardState = opts.driverHardState;
  }

  /** (Re)starts from the durable state: rebuilds the RawNode and restores the snapshot. */
  start(): void {
    const loaded = this.disk.initialState(this.#bootstrap);
    const initial = this.#driverHardState && !this.#faults.staleConfOnRestart
      ? commitSettledConfChanges(loaded)
      : loaded;
    this.#savedHard = loaded.hardState;
    const rng = this.#prng.fork();
    this.raw = new RawNode({ ...this.#configBase, random: () => rng.next() }, initial);
    this.app = this.#appFactory(this.id);
    const snap = initial.snapshot;
    if (snap !== undefined) {
      this.app.restore(snap.data);
      this.#hooks.onRestore(this, snap);
    }
    this.appliedIndex = snap?.meta.index ?? 0;
    this.appliedTerm = snap?.meta.term ?? 0;
    this.conf = snap?.meta.conf ?? this.#bootstrap;
    this.startCommit = initial.hardState.commit;
    this.phase = "idle";
    this.#rd = undefined;
    this.#taken = [];
    this.#nextCompactAt = this.appliedIndex + this.#prng.range(...this.#compactGap);
    this.incarnation++;
    this.up = true;
    this.#hooks.trace(
      `${this.id} start #${this.incarnation} hs=${initial.hardState.term}/${initial.hardState.vote}/` +
        `${initial.hardState.commit} snap=${snap?.meta.index ?? 0} log=${initial.entries.length}`,
    );
  }

  /** Power loss: unsynced writes and unsent messages are gone; the RawNode is dropped. */
  crash(prng: Prng): void {
    const lost = this.disk.crash(prng);
    this.up = false;
    this.#rd = undefined;
    this.#taken = [];
    this.phase = "idle";
    this.#hooks.trace(`${this.id} crash in-phase lost-writes=${lost}`);
  }

  /**
   * Moves the ready loop forward by up to `maxPhases` phases; the fsync completes only when
   * `fsyncDone` is true. Returns how many phases were taken.
   */
  pump(maxPhases: number, fsyncDone: boolean): number {
    let n = 0;
    while (this.up && n < maxPhases && this.#advancePhase(fsyncDone)) n++;
    return n;
  }

  #advancePhase(fsyncDone: boolean): boolean {
    switch (this.phase) {
      case "idle":
        if (!this.raw.hasReady()) return false;
        this.#takeReady();
        return true;
      case "persisting":
        this.#whilePersisting();
        if (!fsyncDone && this.disk.hasUnsynced()) return false;
        this.disk.sync();
        this.#hooks.onSync(this);
        this.phase = "synced";
        return true;
      case "synced":
        if (!this.#faults.ackBeforePersist) {
          for (const m of this.#rd!.messagesAfterPersist) this.#hooks.send(this, m);
        }
        this.phase = "sent";
        return true;
      case "sent":
        this.#applyReady(this.#rd!);
        this.phase = "applied";
        return true;
      case "applied":
        this.raw.advance(this.#rd!);
        this.#rd = undefined;
        this.phase = "idle";
        this.#maybeCompact();
        return true;
    }
  }

  #takeReady(): void {
    const rd = this.raw.ready();
    this.#rd = rd;
    if (rd.softState !== undefined) {
      const hs = rd.hardState;
      this.#hooks.trace(
        `${this.id} ${rd.softState.role} leader=${rd.softState.leaderId || "-"}` +
          (hs ? ` hs=${hs.term}/${hs.vote || "-"}/${hs.commit}` : ""),
      );
    }
    for (const m of rd.messages) this.#hooks.send(this, m);
    if (this.#faults.ackBeforePersist) {
      for (const m of rd.messagesAfterPersist) this.#hooks.send(this, m);
    }
    const every = this.#driverHardState?.snapshotEveryEntries;
    const hardState = every === undefined
      ? rd.hardState
      : this.#faults.staleConfOnRestart
      ? savedByCountOnly(this.#savedHard, rd.hardState, every)
      : hardStateToSave(this.#savedHard, rd, every);
    if (hardState !== undefined) this.#savedHard = hardState;
    const w: DiskWrite = { snapshot: rd.snapshot, entries: rd.entries, hardState };
    if (rd.snapshot !== undefined || rd.entries.length > 0 || hardState !== undefined) {
      const removed = this.disk.write(w);
      this.#hooks.onWrite(this, w, removed);
    }
    this.phase = "persisting";
  }

  #applyReady(rd: Ready): void {
    if (rd.snapshot !== undefined) {
      const { meta } = rd.snapshot;
      if (meta.index <= this.appliedIndex) {
        throw new Error(
          `${this.id}: Ready carries snapshot ${meta.index} at or below applied ${this.appliedIndex}`,
        );
      }
      this.app.restore(rd.snapshot.data);
      this.appliedIndex = meta.index;
      this.appliedTerm = meta.term;
      this.conf = meta.conf;
      this.#hooks.onRestore(this, rd.snapshot);
    }
    for (const e of rd.committedEntries) this.#applyEntry(e);
    for (const e of this.#taken) this.#applyEntry(e);
    this.#taken = [];
    for (const rs of rd.readStates) this.#hooks.onReadState(this, rs);
  }

  #applyEntry(e: Entry): void {
    if (e.index !== this.appliedIndex + 1) {
      throw new Error(`${this.id}: applying entry ${e.index} after ${this.appliedIndex}: a gap`);
    }
    // The core may hand out only entries that are durable here (persistence contract).
    const d = this.disk.durable;
    const durableTerm = termAt(d, e.index);
    if (e.index > lastIndexOf(d) || (durableTerm !== undefined && durableTerm !== e.term)) {
      throw new Error(
        `${this.id}: committed entry ${e.index}/${e.term} is not in the durable log ` +
          `(durable last ${lastIndexOf(d)}, term there ${durableTerm})`,
      );
    }
    this.app.apply(e);
    if (e.kind === 1) this.conf = applyConfChange(this.conf, e.data);
    this.appliedIndex = e.index;
    this.appliedTerm = e.term;
    this.#hooks.onApply(this, e);
  }

  /** Snapshots the application now and then so InstallSnapshot runs (§7). */
  #maybeCompact(): void {
    if (this.appliedIndex < this.#nextCompactAt) return;
    this.#nextCompactAt = this.appliedIndex + this.#prng.range(...this.#compactGap);
    const snap: Snapshot = {
      meta: { index: this.appliedIndex, term: this.appliedTerm, conf: this.conf },
      data: this.app.snapshot(),
    };
    this.disk.saveSnapshot(snap);
    this.raw.compact(snap);
    this.#hooks.trace(`${this.id} compact at ${snap.meta.index}/${snap.meta.term}`);
  }

  /** The core's status (what the nemesis looks at). */
  status(): RaftStatus {
    return this.raw.status();
  }

  /** Delivers a message from the network. */
  receive(m: Message): void {
    if (!this.up) return;
    this.raw.step(m);
    this.#whilePersisting();
  }

  /**
   * While a Ready persists, as the node driver does: sends what needs no persist of it
   * (`RawNode.takeMessages`: a leader's appends of entries proposed meanwhile, heartbeats) and
   * applies committed entries durable before it (`RawNode.takeCommittedStable`) at once, or
   * after the Ready's own committed entries when it has some (log order).
   */
  #whilePersisting(): void {
    if (this.phase !== "persisting") return;
    for (const m of this.raw.takeMessages()) this.#hooks.send(this, m);
    const entries = this.raw.takeCommittedStable();
    if (entries.length === 0) return;
    if (this.#rd!.committedEntries.length > 0 || this.#taken.length > 0) {
      for (const e of entries) this.#taken.push(e);
    } else {
      for (const e of entries) this.#applyEntry(e);
    }
  }
}
