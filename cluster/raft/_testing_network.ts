/**
 * A tiny in-test cluster (like etcd's `network`): nodes, an in-memory disk per node that holds
 * exactly what a Ready asked to persist, an application that records applied data, and a message
 * queue with cuts, isolation and crash/restart. Test-only.
 *
 * @module
 */

import { RawNode } from "./raw_node.ts";
import {
  type ConfState,
  type Entry,
  EntryKind,
  type HardState,
  type Message,
  NO_NODE,
  type NodeId,
  type RaftConfig,
  type Ready,
  type Snapshot,
} from "./types.ts";

/** A deterministic PRNG (mulberry32), so tests replay exactly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What a node has made durable. */
export interface Disk {
  hardState: HardState;
  snapshot: Snapshot | undefined;
  entries: Entry[];
}

export interface Sim {
  readonly id: NodeId;
  node: RawNode;
  readonly disk: Disk;
  /** The data of every applied Normal entry (non-empty), in order; reset by a snapshot restore. */
  app: string[];
  appliedIndex: number;
  /** The term of every entry applied since the last snapshot restore, by index. */
  appliedTerms: Map<number, number>;
  config: RaftConfig;
  readonly bootstrapConf: ConfState;
  readonly readStates: { index: number; context: string }[];
}

const enc = new TextEncoder();
const dec = new TextDecoder();
export const bytes = (s: string): Uint8Array => enc.encode(s);
export const text = (b: Uint8Array): string => dec.decode(b);

export interface NetworkOptions {
  readonly learners?: readonly NodeId[];
  readonly seed?: number;
  readonly config?: Partial<RaftConfig>;
}

export class Network {
  readonly sims = new Map<NodeId, Sim>();
  queue: Message[] = [];
  /** Directed links that drop everything: "a>b". */
  readonly cuts = new Set<string>();
  readonly down = new Set<NodeId>();
  /** Return false to drop a message in flight. */
  filter: (m: Message) => boolean = () => true;
  /** Rewrites a message in flight (after `filter`). */
  rewrite: (m: Message) => Message = (m) => m;
  /** Every message delivered, for assertions. */
  delivered: Message[] = [];
  /** Election safety (§5.2): who led each term. */
  readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly random: () => number;

  constructor(voters: readonly NodeId[], readonly opts: NetworkOptions = {}) {
    this.random = seededRandom(opts.seed ?? 1);
    const conf: ConfState = { voters: [...voters], learners: [...(opts.learners ?? [])] };
    for (const id of [...voters, ...(opts.learners ?? [])]) this.addNode(id, conf);
  }

  configFor(id: NodeId): RaftConfig {
    return {
      id,
      clusterId: "c1",
      electionTicks: 10,
      heartbeatTicks: 1,
      random: this.random,
      ...this.opts.config,
    };
  }

  addNode(id: NodeId, bootstrapConf: ConfState, config?: RaftConfig): Sim {
    const disk: Disk = {
      hardState: { term: 0, vote: NO_NODE, commit: 0 },
      snapshot: undefined,
      entries: [],
    };
    const cfg = config ?? this.configFor(id);
    const sim: Sim = {
      id,
      node: new RawNode(cfg, { hardState: disk.hardState, bootstrapConf, entries: [] }),
      disk,
      app: [],
      appliedIndex: 0,
      appliedTerms: new Map(),
      config: cfg,
      bootstrapConf,
      readStates: [],
    };
    this.sims.set(id, sim);
    return sim;
  }

  sim(id: NodeId): Sim {
    const s = this.sims.get(id);
    if (s === undefined) throw new Error(`No node ${id} in the test network`);
    return s;
  }

  node(id: NodeId): RawNode {
    return this.sim(id).node;
  }

  /** Ready batches whose messages were sent but which are not yet persisted (async driver). */
  readonly pending = new Map<NodeId, Ready>();

  /** Runs one full Ready cycle on `id` as a correct driver would (finishing a pending one). */
  cycle(id: NodeId): Ready | undefined {
    if (this.pending.has(id)) return this.finish(id);
    if (this.begin(id) === undefined) return undefined;
    return this.finish(id);
  }

  /**
   * Per pending Ready: `applyAheadIndex` when it was made and whether its committed entries were
   * applied before its persist (`overlap`), as cluster/node/driver.ts does.
   */
  private readonly early = new Map<NodeId, { ahead: number; applied: boolean }>();

  /** Driver step 1: takes a Ready and sends its `messages`; the node keeps running meanwhile. */
  begin(id: NodeId): Ready | undefined {
    const s = this.sim(id);
    if (this.down.has(id) || this.pending.has(id) || !s.node.hasReady()) return undefined;
    const rd = s.node.ready();
    this.queue.push(...rd.messages);
    this.pending.set(id, rd);
    this.early.set(id, { ahead: s.node.applyAheadIndex, applied: false });
    return rd;
  }

  /**
   * What a driver may do while `id`'s Ready persists (the contract in raw_node.ts): applies the
   * Ready's committed entries when all were up to `applyAheadIndex` when it was made, then sends
   * `takeMessages` and applies `takeCommittedAhead`. Checks that every entry applied so is in
   * the node's durable log as it is or in a majority of the voters' (a leader applying ahead of
   * its own write), and that no message sent so acknowledges what is not durable.
   */
  overlap(id: NodeId): void {
    const s = this.sim(id);
    const rd = this.pending.get(id);
    const early = this.early.get(id);
    if (rd === undefined || early === undefined || this.down.has(id)) return;
    const msgs = s.node.takeMessages();
    for (const m of msgs) this.checkSendable(s, m);
    this.queue.push(...msgs);
    if (!early.applied) {
      if (rd.snapshot !== undefined) return;
      if (rd.committedEntries.some((e) => e.index > early.ahead)) return;
      this.checkDurable(s, rd.committedEntries);
      this.applyEntries(s, rd.committedEntries);
      early.applied = true;
    }
    const taken = s.node.takeCommittedAhead();
    this.checkDurable(s, taken);
    this.applyEntries(s, taken);
  }

  /**
   * Entries applied before a persist must be in the durable log, each with its term; or in a
   * majority of the voters' durable logs (a leader applying what its followers committed).
   */
  private checkDurable(s: Sim, entries: readonly Entry[]): void {
    const voters = s.node.status().conf.voters;
    for (const e of entries) {
      if (durableAt(s.disk, e)) continue;
      const holders = voters.filter((v) => {
        const o = this.sims.get(v);
        return o !== undefined && durableAt(o.disk, e);
      });
      if (holders.length <= voters.length / 2) {
        throw new Error(
          `${s.id} applies ${e.index} (term ${e.term}) before it is durable here or on a ` +
            `majority (held by ${holders} of ${voters})`,
        );
      }
    }
  }

  /** A message sent while a persist runs may not acknowledge entries or a vote not durable. */
  private checkSendable(s: Sim, m: Message): void {
    const last = (s.disk.snapshot?.meta.index ?? 0) + s.disk.entries.length;
    if (m.type === "append_resp" && !m.reject && m.index > last) {
      throw new Error(`${s.id} acknowledges ${m.index} before its persist (durable ${last})`);
    }
    const hs = s.disk.hardState;
    if (m.type === "vote_resp" && !m.reject && (hs.term !== m.term || hs.vote !== m.to)) {
      throw new Error(`${s.id} grants its vote to ${m.to} before it is durable`);
    }
  }

  /** Driver steps 2-5: persist, send `messagesAfterPersist`, apply, advance. */
  finish(id: NodeId): Ready | undefined {
    const s = this.sim(id);
    const rd = this.pending.get(id);
    if (rd === undefined || this.down.has(id)) return undefined;
    this.pending.delete(id);
    const appliedEarly = this.early.get(id)?.applied ?? false;
    this.early.delete(id);
    this.persist(s.disk, rd);
    this.checkPersisted(s, rd);
    this.queue.push(...rd.messagesAfterPersist);
    this.apply(s, appliedEarly ? { ...rd, committedEntries: [] } : rd);
    s.node.advance(rd);
    this.checkLeader(s);
    return rd;
  }

  /** The persistence contract: nothing committed or applied lies beyond the durable log. */
  private checkPersisted(s: Sim, rd: Ready): void {
    const last = (s.disk.snapshot?.meta.index ?? 0) + s.disk.entries.length;
    if (s.disk.hardState.commit > last) {
      throw new Error(`${s.id} persisted commit ${s.disk.hardState.commit} beyond its log ${last}`);
    }
    for (const e of rd.committedEntries) {
      if (e.index > last) throw new Error(`${s.id} applies ${e.index} beyond its durable log`);
    }
    this.checkLeader(s);
  }

  /** Election safety (§5.2): at most one leader per term, ever. */
  private checkLeader(s: Sim): void {
    const st = s.node.status();
    if (st.role !== "leader") return;
    const prev = this.leaderOfTerm.get(st.term);
    if (prev !== undefined && prev !== s.id) {
      throw new Error(`Election safety: ${prev} and ${s.id} both lead term ${st.term}`);
    }
    this.leaderOfTerm.set(st.term, s.id);
  }

  persist(disk: Disk, rd: Ready): void {
    if (rd.snapshot !== undefined) {
      disk.snapshot = rd.snapshot;
      disk.entries = [];
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0].index;
      const base = (disk.snapshot?.meta.index ?? 0) + 1;
      disk.entries.length = first - base;
      disk.entries.push(...rd.entries);
    }
    if (rd.hardState !== undefined) disk.hardState = rd.hardState;
  }

  apply(s: Sim, rd: Ready): void {
    if (rd.snapshot !== undefined) {
      s.app = JSON.parse(text(rd.snapshot.data)) as string[];
      s.appliedIndex = rd.snapshot.meta.index;
    }
    this.applyEntries(s, rd.committedEntries);
    for (const r of rd.readStates) s.readStates.push({ index: r.index, context: text(r.context) });
  }

  private applyEntries(s: Sim, entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.index !== s.appliedIndex + 1) {
        throw new Error(`${s.id} applies ${e.index} after ${s.appliedIndex}`);
      }
      s.appliedIndex = e.index;
      s.appliedTerms.set(e.index, e.term);
      if (e.kind === EntryKind.Normal && e.data.length > 0) s.app.push(text(e.data));
    }
  }

  /** The snapshot the application would take now on `id` (state as of its applied index). */
  takeSnapshot(id: NodeId): Snapshot {
    const s = this.sim(id);
    const st = s.node.status();
    const term = s.disk.entries.find((e) => e.index === s.appliedIndex)?.term ??
      s.disk.snapshot?.meta.term ?? 0;
    return {
      meta: { index: s.appliedIndex, term, conf: st.conf },
      data: bytes(JSON.stringify(s.app)),
    };
  }

  /** Delivers queued messages and runs Ready cycles until nothing moves (bounded). */
  settle(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      let moved = false;
      for (const id of this.sims.keys()) {
        for (let k = 0; k < 100 && this.cycle(id) !== undefined; k++) moved = true;
      }
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        moved = true;
        this.deliver(m);
      }
      if (!moved) return;
    }
    throw new Error(`The test network did not settle within ${maxRounds} rounds`);
  }

  deliver(m: Message): void {
    if (this.down.has(m.from) || this.down.has(m.to)) return;
    if (this.cuts.has(`${m.from}>${m.to}`) || !this.filter(m)) return;
    m = this.rewrite(m);
    const s = this.sims.get(m.to);
    if (s === undefined) return;
    this.delivered.push(m);
    s.node.step(m);
    this.checkLeader(s);
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) if (!this.down.has(id)) this.node(id).tick();
  }

  /** Ticks every live node `n` times, settling after each tick. */
  tickAll(n: number): void {
    for (let i = 0; i < n; i++) {
      for (const id of this.sims.keys()) this.tick(id);
      this.settle();
    }
  }

  /**
   * Ticks only `id` until it leads (bounded), settling after each tick. With check-quorum and
   * pre-vote on, the other nodes first let their leader lease lapse (their own election
   * requests dropped), as they would after the leader went silent.
   */
  elect(id: NodeId): void {
    const cfg = this.configFor(id);
    if ((cfg.checkQuorum ?? true) && (cfg.preVote ?? true)) {
      const saved = this.filter;
      this.filter = (m) => (m.type !== "prevote" && m.type !== "vote") && saved(m);
      for (const other of this.sims.keys()) if (other !== id) this.tick(other, cfg.electionTicks);
      this.settle();
      this.filter = saved;
    }
    for (let i = 0; i < 100; i++) {
      if (this.node(id).status().role === "leader") {
        this.settle();
        return;
      }
      this.tick(id);
      this.settle();
    }
    throw new Error(`${id} did not become leader within 100 ticks`);
  }

  isolate(id: NodeId): void {
    for (const other of this.sims.keys()) {
      if (other === id) continue;
      this.cuts.add(`${id}>${other}`);
      this.cuts.add(`${other}>${id}`);
    }
  }

  heal(): void {
    this.cuts.clear();
  }

  /** The node loses its memory; its disk survives. Messages in flight to it are lost. */
  crash(id: NodeId): void {
    this.down.add(id);
    this.pending.delete(id); // never persisted
    this.early.delete(id);
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
  }

  restart(id: NodeId): void {
    const s = this.sim(id);
    this.down.delete(id);
    s.node = new RawNode(s.config, {
      hardState: s.disk.hardState,
      bootstrapConf: s.bootstrapConf,
      ...(s.disk.snapshot ? { snapshot: s.disk.snapshot } : {}),
      entries: [...s.disk.entries],
    });
    s.app = s.disk.snapshot ? JSON.parse(text(s.disk.snapshot.data)) as string[] : [];
    s.appliedIndex = s.disk.snapshot?.meta.index ?? 0;
  }

  /** State machine safety (§5.4.3): no two nodes applied different entries at one index. */
  appliedConflicts(): string[] {
    const out: string[] = [];
    const seen = new Map<number, { id: NodeId; term: number }>();
    for (const s of this.sims.values()) {
      for (const [index, term] of s.appliedTerms) {
        const other = seen.get(index);
        if (other === undefined) seen.set(index, { id: s.id, term });
        else if (other.term !== term) {
          out.push(`index ${index}: ${other.id} applied term ${other.term}, ${s.id} term ${term}`);
        }
      }
    }
    return out;
  }

  /** Leader proposes each string, then the network settles. */
  propose(id: NodeId, ...data: string[]): void {
    for (const d of data) {
      const r = this.node(id).propose(bytes(d));
      if (!r.ok) throw new Error(`Proposal to ${id} failed: ${r.reason}`);
    }
    this.settle();
  }

  leaders(): NodeId[] {
    return [...this.sims.keys()].filter((id) =>
      !this.down.has(id) && this.node(id).status().role === "leader"
    );
  }
}

/** Whether `disk` holds `e` (its index with its term; behind the snapshot counts). */
function durableAt(disk: Disk, e: Entry): boolean {
  const snap = disk.snapshot?.meta.index ?? 0;
  if (e.index <= snap) return true;
  return disk.entries[e.index - snap - 1]?.term === e.term;
}
