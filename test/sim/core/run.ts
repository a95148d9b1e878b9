/**
 * One seed of the simulator: builds the cluster, runs `steps` steps of faults and workload with
 * the invariants checked after each, then a quiet phase (faults stop, every node up and
 * connected) in which a leader must be elected and a fresh command committed and applied on every
 * member within a bound of ticks. Everything random derives from the seed.
 *
 * @module
 */

import {
  type ConfChange,
  type ConfState,
  decodeConfChange,
  type Message,
  type NodeId,
} from "../../../cluster/raft/mod.ts";
import { HashChainApp, type SimAppFactory } from "../app.ts";
import { ElectionBound } from "./elections.ts";
import { Checker, type Violation } from "./invariants.ts";
import { type ClusterControl, Nemesis, type NemesisNode } from "./nemesis.ts";
import { Network } from "../network.ts";
import { Prng } from "../prng.ts";
import { type DriverFaults, type NodeHooks, SimNode } from "./sim_node.ts";
import { Workload } from "./workload.ts";
import { observeNodes, quietPhase } from "./quiet.ts";
import { ELECTION_TICKS, HEARTBEAT_TICKS, isProductionSeed } from "./settings.ts";
import * as production from "../../../src/server/mod.ts";

/** What one seed runs. */
export interface RunOptions {
  readonly seed: number;
  readonly nodes: 3 | 5;
  /** Steps of the faulty phase (the quiet phase comes after). */
  readonly steps: number;
  /** Record a line per event (returned in `trace`). */
  readonly trace?: boolean;
  /** Turn off Raft §5.4.2 in the core, to prove the sim catches Figure 8. */
  readonly commitOlderTermEntriesByCount?: boolean;
  /** Driver bugs to prove the sim catches them. */
  readonly driverFaults?: DriverFaults;
  readonly appFactory?: SimAppFactory;
  /**
   * Check the persistence contract on every acknowledgement as it leaves (default true). Off, a
   * driver bug must be caught by its consequences (lost committed entries) instead.
   */
  readonly checkAcks?: boolean;
  /** Core options to override (pre-vote and check-quorum off prove `bounded_elections` fails). */
  readonly raft?: { readonly preVote?: boolean; readonly checkQuorum?: boolean };
  /** Production thresholds and faults (see `isProductionSeed`, the default for the seed). */
  readonly production?: boolean;
}

/** What one seed found. */
export interface RunResult {
  readonly seed: number;
  readonly nodes: number;
  /** Steps run, the quiet phase included. */
  readonly steps: number;
  readonly violations: readonly Violation[];
  readonly trace: readonly string[];
  readonly stats: Record<string, number>;
}

/** The simulated cluster: nodes, network, the checks, and the control surface of the nemesis. */
export class Sim implements ClusterControl {
  step = 0;
  readonly nodes = new Map<NodeId, SimNode>();
  readonly network: Network;
  readonly checker = new Checker();
  readonly workload: Workload;
  readonly nemesis: Nemesis;
  /** Bounded elections under bridge and one-way partitions (docs/reliability.md item 5). */
  readonly elections: ElectionBound;
  readonly traceLines: string[] = [];
  readonly bootstrap: ConfState;
  /** Per-node probability of a tick each step (a slow clock is a skewed one). */
  readonly tickP = new Map<NodeId, number>();
  readonly pausedUntil = new Map<NodeId, number>();
  readonly retired = new Set<NodeId>();
  /** Client attempts per step in the faulty phase: 4 makes appends carry batches. */
  readonly clientBurst: number;
  /** Probability that a pending fsync completes in a step. */
  fsyncP: number;
  readonly #opts: RunOptions;
  readonly #nodePrng: Prng;
  /** Drives the ready loops and the disk faults. */
  readonly loopPrng: Prng;
  readonly #config: Record<string, unknown>;
  #nextNodeNum: number;
  /** Applied entries between snapshots: small gaps make InstallSnapshot and its races common. */
  readonly #compactGap: readonly [number, number];
  /** Production-setting seed: snapshots and hard-state saves as a real node does them. */
  readonly #production: boolean;

  constructor(opts: RunOptions) {
    this.#opts = opts;
    const root = new Prng(opts.seed);
    this.network = new Network(root.fork());
    this.#nodePrng = root.fork();
    this.loopPrng = root.fork();
    const cfgPrng = root.fork();
    this.workload = new Workload(root.fork(), (l) => this.trace(l));
    const ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
    this.#nextNodeNum = opts.nodes + 1;
    this.bootstrap = { voters: ids, learners: [] };
    this.fsyncP = cfgPrng.pick([0.3, 0.6, 1]);
    this.#compactGap = cfgPrng.pick([[2, 8], [20, 80], [20, 80]] as const);
    this.#config = {
      clusterId: "sim",
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      maxInflightMessages: cfgPrng.pick([4, 16, 64]),
      maxAppendBytes: cfgPrng.pick([1, 64, 4096]),
      snapshotChunkBytes: cfgPrng.pick([32, 256, 1 << 20]),
      unsafeTestFaults: {
        commitOlderTermEntriesByCount: opts.commitOlderTermEntriesByCount ?? false,
      },
      ...opts.raft,
    };
    this.#production = opts.production ?? isProductionSeed(opts.seed);
    if (this.#production) {
      // Every threshold as a real node has it (the draws above still run: same prng streams).
      this.#compactGap = [production.SNAPSHOT_EVERY_ENTRIES, production.SNAPSHOT_EVERY_ENTRIES];
      this.#config = {
        clusterId: "sim",
        electionTicks: production.ELECTION_TICKS,
        heartbeatTicks: production.HEARTBEAT_TICKS,
        deferCommitNotice: production.DEFER_COMMIT_NOTICE,
        ...opts.raft,
      };
    }
    this.clientBurst = cfgPrng.pick([1, 1, 4]);
    this.nemesis = new Nemesis(root.fork(), this, { production: this.#production });
    this.elections = new ElectionBound(this.checker, 2 * ELECTION_TICKS);
    this.nemesis.observer = this.elections;
    this.trace(
      `seed ${opts.seed} nodes ${opts.nodes}${this.#production ? " production" : ""} config ${
        JSON.stringify(this.#config)
      } ` +
        `fsyncP ${this.fsyncP} burst ${this.clientBurst} compactGap ${this.#compactGap} profile ${
          JSON.stringify(this.nemesis.profile)
        }`,
    );
    for (const id of ids) {
      this.#createNode(id, cfgPrng.chance(0.3) ? 0.7 + 0.3 * cfgPrng.next() : 1);
    }
  }

  trace(line: string): void {
    if (this.#opts.trace) this.traceLines.push(`${this.step} ${line}`);
  }

  #createNode(id: NodeId, tickP: number): SimNode {
    const node = new SimNode({
      id,
      bootstrap: this.bootstrap,
      config: this.#config as never,
      prng: this.#nodePrng.fork(),
      appFactory: this.#opts.appFactory ?? (() => new HashChainApp()),
      hooks: this.#hooks(),
      faults: this.#opts.driverFaults,
      compactGap: this.#compactGap,
      ...(this.#production
        ? { driverHardState: { snapshotEveryEntries: production.SNAPSHOT_EVERY_ENTRIES } }
        : {}),
    });
    this.nodes.set(id, node);
    this.tickP.set(id, tickP);
    node.start();
    this.checker.observeRestart(node, node.raw.status().commit);
    return node;
  }

  #hooks(): NodeHooks {
    return {
      send: (node, m: Message) => {
        if (this.#opts.checkAcks !== false) this.checker.onSend(node, m);
        this.network.send(m, this.step);
      },
      onWrite: (node, w, removed) => {
        const st = node.raw.status();
        if (st.role === "leader") this.checker.observeLeader(st.term, node.id);
        this.checker.onWrite(node, w, removed, st.term);
      },
      onSync: (node) => this.checker.onSync(node),
      onApply: (node, e) => {
        this.checker.onApply(node, e, node.raw.status().term);
        this.workload.onApply(node, e, this.step);
        if (e.kind === 1) this.#onConfApplied(node, e.data);
      },
      onRestore: (node, snap) => {
        this.checker.onRestore(node, snap);
        this.workload.onRestore(node, snap.meta.index);
        this.trace(`${node.id} restore snapshot ${snap.meta.index}/${snap.meta.term}`);
      },
      onReadState: (node, rs) => {
        const stale = this.workload.onReadState(node, rs);
        if (stale !== undefined) this.checker.fail("linearizable_read", stale);
      },
      trace: (line) => this.trace(line),
    };
  }

  #onConfApplied(node: SimNode, data: Uint8Array): void {
    // A node removed from the membership is stopped for good a little later, as an operator would.
    const cc = decodeConfChange(data);
    if (cc.op === "remove") this.nemesis.scheduleRetire(cc.nodeId, this.step);
    this.trace(`${node.id} applied conf ${cc.op} ${cc.nodeId} -> ${JSON.stringify(node.conf)}`);
  }

  leaders(): SimNode[] {
    const out: { n: SimNode; term: number }[] = [];
    for (const n of this.nodes.values()) {
      if (!n.up) continue;
      const st = n.raw.status();
      if (st.role === "leader") out.push({ n, term: st.term });
    }
    return out.sort((a, b) => b.term - a.term).map((x) => x.n);
  }

  proposeConfChange(leader: NemesisNode, cc: ConfChange): string {
    const r = (leader as SimNode).raw.proposeConfChange(cc);
    return r.ok ? `${r.index}/${r.term}` : r.reason;
  }

  transferLeadership(leader: NemesisNode, to: NodeId | undefined): string {
    const r = (leader as SimNode).raw.transferLeadership(to);
    return r.ok ? "ok" : r.reason;
  }

  crash(id: NodeId): void {
    const n = this.nodes.get(id);
    if (n === undefined || !n.up) return;
    n.crash(this.loopPrng);
  }

  restart(id: NodeId): void {
    const n = this.nodes.get(id);
    if (n === undefined || n.up || this.retired.has(id)) return;
    n.start();
    this.checker.observeRestart(n, n.raw.status().commit);
  }

  addNode(): SimNode {
    const id = `n${this.#nextNodeNum++}`;
    this.trace(`${id} created (joining)`);
    return this.#createNode(id, 1);
  }

  retire(id: NodeId): void {
    const n = this.nodes.get(id);
    if (n === undefined || this.retired.has(id)) return;
    if (n.up) n.crash(this.loopPrng);
    this.retired.add(id);
    this.trace(`${id} retired`);
  }

  pause(id: NodeId, untilStep: number): void {
    this.pausedUntil.set(id, untilStep);
    this.trace(`${id} paused until ${untilStep}`);
  }

  isActive(n: SimNode): boolean {
    if (!n.up) return false;
    const until = this.pausedUntil.get(n.id);
    if (until === undefined) return true;
    if (until > this.step) return false;
    this.pausedUntil.delete(n.id);
    return true;
  }

  /** One step: faults, deliveries, ticks, client, ready loops, then the checks. */
  runStep(opts: { faults: boolean; proposeRate: number }): void {
    this.checker.step = this.step;
    if (opts.faults) this.nemesis.act(this.step);
    const termBefore = opts.faults
      ? this.elections.before(this, this.step, this.nemesis.inStorm(this.step))
      : undefined;
    for (const m of this.network.deliverDue(this.step)) {
      const to = this.nodes.get(m.to);
      if (to === undefined || !this.isActive(to)) continue;
      if (this.#opts.trace) this.trace(describeMessage(m));
      to.receive(m);
    }
    for (const n of this.nodes.values()) {
      if (this.isActive(n) && (!opts.faults || this.loopPrng.chance(this.tickP.get(n.id)!))) {
        n.raw.tick();
      }
    }
    const attempts = opts.faults ? this.clientBurst : 1;
    for (let k = 0; k < attempts; k++) this.workload.act(this.step, this.nodes, opts.proposeRate);
    if (opts.faults) this.workload.read(this.step, this.nodes, 0.1);
    for (const n of this.nodes.values()) {
      if (!this.isActive(n)) continue;
      if (opts.faults) n.pump(this.loopPrng.range(1, 6), this.loopPrng.chance(this.fsyncP));
      else n.pump(50, true);
    }
    observeNodes(this);
    this.elections.after(this, this.step, termBefore);
    this.step++;
  }
}

/** A one-line description of a message for the trace. */
export function describeMessage(m: Message): string {
  const ents = m.entries?.length
    ? ` ents ${m.entries[0].index}..${m.entries[m.entries.length - 1].index}`
    : "";
  const rej = m.reject ? ` reject hint ${m.rejectHint}` : "";
  const snap = m.snapshot
    ? ` snap ${m.snapshot.meta.index}@${m.snapshot.offset}${m.snapshot.done ? " done" : ""}`
    : "";
  return `deliver ${m.from}>${m.to} ${m.type} t${m.term} lt${m.logTerm} i${m.index} c${m.commit}${ents}${rej}${snap}`;
}

/** Runs one seed; an exception anywhere (core assertion, disk contract) is a violation too. */
export function runSeed(opts: RunOptions): RunResult {
  let sim: Sim | undefined;
  try {
    sim = new Sim(opts);
    while (sim.step < opts.steps && sim.checker.violations.length === 0) {
      sim.runStep({ faults: true, proposeRate: 0.3 });
    }
    if (sim.checker.violations.length === 0) quietPhase(sim);
  } catch (e) {
    const err = e as Error;
    const where = err.stack?.split("\n").slice(1, 4).map((s) => s.trim()).join(" < ") ?? "";
    const step = sim?.step ?? 0;
    const v = { invariant: "exception", step, message: `${err.message} (${where})` };
    if (sim === undefined) {
      return {
        seed: opts.seed,
        nodes: opts.nodes,
        steps: 0,
        violations: [v],
        trace: [],
        stats: {},
      };
    }
    sim.checker.violations.push(v);
  }
  return {
    seed: opts.seed,
    nodes: opts.nodes,
    steps: sim.step,
    violations: sim.checker.violations,
    trace: sim.traceLines,
    stats: {
      ...sim.network.stats,
      ...sim.nemesis.stats,
      ...sim.workload.stats,
      partialPartitions: sim.elections.stats.windows,
      electionStepsWatched: sim.elections.stats.stepsWatched,
      electionRises: sim.elections.stats.rises,
    },
  };
}
