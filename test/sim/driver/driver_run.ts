/**
 * One seed of the driver simulation: the real node driver (`NodeDriver`, unchanged) on every
 * node, on fake ports (`driver_node.ts`), under the same nemesis, network faults, crashes,
 * restarts and membership changes as the RawNode simulation (`run.ts`). The client proposes and
 * reads through the driver's API; the checks look only from outside (`driver_checks.ts`).
 *
 * Determinism: the driver continues through microtasks only (awaited port promises,
 * `queueMicrotask`). After each batch of simulator actions the run crosses one macrotask boundary
 * (`setImmediate`, see `drain`), which runs every microtask queued, so what the driver does
 * depends only on the order of the simulator's actions, hence only on the seed.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { ConfChange, ConfState, NodeId } from "../../../cluster/raft/mod.ts";
import { HashChainApp, type SimAppFactory } from "../app.ts";
import { BrokerSimApp } from "../broker/broker_app.ts";
import { brokerPayload, chainPayload } from "./driver_payloads.ts";
import {
  ELECTION_TICKS,
  HEARTBEAT_TICKS,
  isProductionSeed,
  nodesForSeed,
} from "../core/settings.ts";
import { ConfHistory, DriverChecker } from "./driver_checks.ts";
import { type DriverPortFaults, DriverSimNode, TICK_MS } from "./driver_node.ts";
import { CLIENT_TIMEOUT_TICKS, DriverWorkload } from "./driver_workload.ts";
import { type ClusterControl, Nemesis, type NemesisNode } from "../core/nemesis.ts";
import { Network } from "../network.ts";
import { Prng } from "../prng.ts";
import { describeMessage, type RunResult } from "../core/run.ts";
import * as production from "../../../src/server/mod.ts";

/** What one seed of the driver simulation runs. */
export interface DriverRunOptions {
  readonly seed: number;
  readonly nodes: 3 | 5;
  readonly steps: number;
  readonly trace?: boolean;
  /** Broken ports, to prove the simulation catches them. */
  readonly portFaults?: DriverPortFaults;
  /**
   * Check the persistence contract on every acknowledgement as it leaves (default true). Off, a
   * broken port must be caught by its consequences (lost acknowledged entries) instead.
   */
  readonly checkAcks?: boolean;
  /** The replicated application: the hash chain (default) or the broker. */
  readonly app?: "chain" | "broker";
  /** Production thresholds and faults (see `isProductionSeed`, the default for the seed). */
  readonly production?: boolean;
}

/**
 * Runs every queued microtask: one macrotask boundary. `setImmediate` (node:timers) is a real
 * macrotask here and costs ~10 µs; `setTimeout(0)` costs ~2.7 ms. A `MessageChannel` round trip
 * is NOT a boundary in Deno 2.9.6: its message is dispatched from a promise continuation, so
 * longer microtask chains run past it (1,964 of 2,000 chains of 1..300 awaits were unfinished
 * when it returned), which made traces of one seed differ between runs.
 */
function drain(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The driver-simulated cluster and the nemesis's control surface. */
export class DriverSim implements ClusterControl {
  step = 0;
  readonly nodes = new Map<NodeId, DriverSimNode>();
  readonly network: Network;
  readonly checker = new DriverChecker();
  /** Each node's membership by applied index, for the snapshot_conf check. */
  readonly confs = new ConfHistory();
  readonly workload: DriverWorkload;
  readonly nemesis: Nemesis;
  readonly traceLines: string[] = [];
  readonly bootstrap: ConfState;
  readonly tickP = new Map<NodeId, number>();
  readonly pausedUntil = new Map<NodeId, number>();
  readonly retired = new Set<NodeId>();
  readonly clientBurst: number;
  readonly fsyncP: number;
  readonly loopPrng: Prng;
  readonly #opts: DriverRunOptions;
  readonly #nodePrng: Prng;
  readonly #config: Record<string, unknown>;
  readonly #snapshotEvery: number;
  /** Half the seeds also wait for the log to grow (`snapshotLogFactor`); from the seed, not the prng, so older seeds replay as before. */
  readonly #snapshotLogFactor: number;
  readonly #snapshotEntriesMax: number;
  /** Production seeds only: older seeds replay as before. */
  readonly #snapshotLogBytesMax: number | undefined;
  readonly #appFactory: SimAppFactory;
  readonly #urls: Map<NodeId, string>;
  #nextNodeNum: number;

  constructor(opts: DriverRunOptions) {
    this.#opts = opts;
    const root = new Prng(opts.seed);
    this.network = new Network(root.fork());
    this.#nodePrng = root.fork();
    this.loopPrng = root.fork();
    const cfgPrng = root.fork();
    const broker = opts.app === "broker";
    this.#appFactory = broker
      ? () => new BrokerSimApp(undefined, { answerOwnOnly: true })
      : () => new HashChainApp();
    this.workload = new DriverWorkload(
      root.fork(),
      this.checker,
      broker ? brokerPayload : chainPayload,
      (l) => this.trace(l),
    );
    const ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
    this.#urls = new Map(ids.map((id) => [id, `sim://${id}`]));
    this.#nextNodeNum = opts.nodes + 1;
    this.bootstrap = { voters: ids, learners: [] };
    this.fsyncP = cfgPrng.pick([0.3, 0.6, 1]);
    this.#snapshotEvery = cfgPrng.pick([4, 16, 64]);
    this.#snapshotLogFactor = Math.floor(opts.seed / 2) % 2 === 1 ? 0.5 : 0;
    this.#snapshotEntriesMax = 4 * this.#snapshotEvery;
    this.#snapshotLogBytesMax = undefined;
    this.#config = {
      clusterId: "sim",
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      maxInflightMessages: cfgPrng.pick([4, 16, 64]),
      maxAppendBytes: cfgPrng.pick([1, 64, 4096]),
      // A broker snapshot is tens of KB: in 32-byte chunks, one per round trip, a lagging member
      // needs thousands of steps and the leader compacts past it meanwhile (seeds 65, 286).
      snapshotChunkBytes: cfgPrng.pick([32, 256, 1 << 20]) * (broker ? 64 : 1),
      // From the seed, not drawn (the prng streams stay those of earlier campaigns): none, a
      // few entries, or the default of entries kept in memory; the rest are read back.
      ...(opts.seed % 3 === 2 ? {} : { logCacheBytes: opts.seed % 3 === 0 ? 0 : 256 }),
    };
    const prod = opts.production ?? isProductionSeed(opts.seed);
    if (prod) {
      // Every threshold as a real node has it (the draws above still run: same prng streams).
      this.#snapshotEvery = production.SNAPSHOT_EVERY_ENTRIES;
      this.#snapshotLogFactor = production.SNAPSHOT_LOG_FACTOR;
      this.#snapshotEntriesMax = production.SNAPSHOT_ENTRIES_MAX;
      this.#snapshotLogBytesMax = production.SNAPSHOT_LOG_BYTES_MAX;
      this.#config = {
        clusterId: "sim",
        electionTicks: production.ELECTION_TICKS,
        heartbeatTicks: production.HEARTBEAT_TICKS,
        deferCommitNotice: production.DEFER_COMMIT_NOTICE,
        logCacheBytes: production.LOG_CACHE_BYTES,
      };
    }
    this.clientBurst = cfgPrng.pick([1, 1, 4]);
    this.nemesis = new Nemesis(root.fork(), this, { production: prod });
    this.trace(
      `driver seed ${opts.seed} nodes ${opts.nodes}${prod ? " production" : ""} config ${
        JSON.stringify(this.#config)
      } fsyncP ${this.fsyncP} snapshotEvery ${this.#snapshotEvery} logFactor ${this.#snapshotLogFactor} ` +
        `burst ${this.clientBurst} profile ${JSON.stringify(this.nemesis.profile)}`,
    );
    for (const id of ids) {
      this.#createNode(id, this.bootstrap, cfgPrng.chance(0.3) ? 0.7 + 0.3 * cfgPrng.next() : 1);
    }
  }

  trace(line: string): void {
    if (this.#opts.trace) this.traceLines.push(`${this.step} ${line}`);
  }

  #createNode(id: NodeId, bootstrap: ConfState, tickP: number): DriverSimNode {
    const node = new DriverSimNode({
      id,
      bootstrap,
      bootstrapUrls: bootstrap.voters.length > 0 ? this.#urls : new Map(),
      config: this.#config as never,
      prng: this.#nodePrng.fork(),
      appFactory: this.#appFactory,
      snapshotEveryEntries: this.#snapshotEvery,
      snapshotLogFactor: this.#snapshotLogFactor,
      snapshotEntriesMax: this.#snapshotEntriesMax,
      ...(this.#snapshotLogBytesMax === undefined
        ? {}
        : { snapshotLogBytesMax: this.#snapshotLogBytesMax }),
      faults: this.#opts.portFaults,
      hooks: {
        send: (n, msgs) => {
          for (const m of msgs) {
            if (this.#opts.checkAcks !== false) {
              this.checker.onSend(`${n.id}#${n.incarnation}`, n.disk.durable, m);
            }
            this.checker.noteAck(n.id, m);
            this.network.send(m, this.step);
          }
        },
        onApply: (n, index, data, result) => {
          const who = `${n.id}#${n.incarnation}`;
          this.checker.onApply(who, index, data, result, n.app.digest());
          const voters = () => n.driver?.status().conf.voters ?? [];
          const disk = (id: NodeId) => this.nodes.get(id)?.disk.durable;
          this.checker.onApplyDurable(who, n.disk.durable, index, data, voters, disk);
          this.workload.onApply(data);
        },
        onEvent: (n, event, details) => this.#onEvent(n, event, details),
        onSnapshotSave: (n, snap) =>
          this.confs.onSnapshotSave(n, n.driver?.appliedIndex ?? 0, snap, this.checker),
        onFatal: (n, e) =>
          this.checker.fail(
            "driver_fatal",
            `${n.id}#${n.incarnation}: ${(e as Error)?.stack ?? e}`,
          ),
        trace: (l) => this.trace(l),
      },
    });
    this.nodes.set(id, node);
    this.tickP.set(id, tickP);
    this.confs.onStart(node);
    node.start();
    return node;
  }

  #onEvent(n: DriverSimNode, event: string, details: Record<string, unknown>): void {
    this.confs.onEvent(n, event, details);
    if (event === "membership_changed" && details.op === "remove") {
      this.nemesis.scheduleRetire(details.nodeId as NodeId, this.step);
    }
    if (this.#opts.trace && event !== "leader_changed") {
      this.trace(`${n.id}#${n.incarnation} ${event} ${JSON.stringify(details)}`);
    }
  }

  leaders(): DriverSimNode[] {
    const out: { n: DriverSimNode; term: number }[] = [];
    for (const n of this.nodes.values()) {
      if (!n.up || n.driver === undefined) continue;
      const st = n.driver.status();
      if (st.role === "leader") out.push({ n, term: st.term });
    }
    return out.sort((a, b) => b.term - a.term).map((x) => x.n);
  }

  proposeConfChange(leader: NemesisNode, cc: ConfChange): string {
    const n = leader as DriverSimNode;
    const d = n.driver;
    if (d === undefined) return "not_open";
    d.proposeConfChange(cc, CLIENT_TIMEOUT_TICKS * TICK_MS).then((o) =>
      this.trace(`conf ${cc.op} ${cc.nodeId} at ${n.id}: ${o.ok ? `ok ${o.index}` : o.reason}`)
    );
    return "proposed";
  }

  transferLeadership(leader: NemesisNode, to: NodeId | undefined): string {
    const r = (leader as DriverSimNode).driver?.transferLeadership(to);
    return r === undefined ? "not_open" : r.ok ? "ok" : r.reason;
  }

  crash(id: NodeId): void {
    const n = this.nodes.get(id);
    if (n === undefined || !n.up) return;
    n.crash(this.loopPrng);
    this.checker.onCrash(id, n.disk.durable);
  }

  restart(id: NodeId): void {
    const n = this.nodes.get(id);
    if (n === undefined || n.up || this.retired.has(id)) return;
    this.confs.onStart(n);
    n.start();
  }

  addNode(): DriverSimNode {
    const id = `n${this.#nextNodeNum++}`;
    this.trace(`${id} created (joining, empty bootstrap)`);
    return this.#createNode(id, { voters: [], learners: [] }, 1);
  }

  retire(id: NodeId): void {
    const n = this.nodes.get(id);
    if (n === undefined || this.retired.has(id)) return;
    if (n.up) {
      n.crash(this.loopPrng);
      this.checker.onCrash(id, n.disk.durable);
    }
    this.retired.add(id);
    this.trace(`${id} retired`);
  }

  pause(id: NodeId, untilStep: number): void {
    this.pausedUntil.set(id, untilStep);
    this.trace(`${id} paused until ${untilStep}`);
  }

  isActive(n: DriverSimNode): boolean {
    if (!n.up) return false;
    const until = this.pausedUntil.get(n.id);
    if (until === undefined) return true;
    if (until > this.step) return false;
    this.pausedUntil.delete(n.id);
    return true;
  }

  /** One step: faults, deliveries, ticks, the client, then fsyncs in rounds, then the checks. */
  async runStep(faults: boolean, proposeRate: number): Promise<void> {
    this.checker.step = this.step;
    if (faults) this.nemesis.act(this.step);
    for (const m of this.network.deliverDue(this.step)) {
      const to = this.nodes.get(m.to);
      if (to === undefined || !this.isActive(to)) continue;
      if (this.#opts.trace) this.trace(describeMessage(m));
      to.receive([m]);
    }
    for (const n of this.nodes.values()) {
      if (this.isActive(n) && (!faults || this.loopPrng.chance(this.tickP.get(n.id)!))) n.tick();
    }
    const attempts = faults ? this.clientBurst : 1;
    for (let k = 0; k < attempts; k++) this.workload.act(this.step, this.nodes, proposeRate);
    if (faults) this.workload.read(this.nodes, 0.1);
    await drain();
    // Each round completes some fsyncs and lets some paces (snapshot serialize and restore) go
    // on; the drivers then run on to their next port call.
    for (let round = 0; round < 4; round++) {
      let synced = 0;
      for (const n of this.nodes.values()) {
        if (!this.isActive(n)) continue;
        if (n.pendingPaces() > 0 && (!faults || this.loopPrng.chance(0.5))) {
          synced += n.releasePaces();
        }
        if (n.disk.pendingCount() === 0) continue;
        if (faults && !this.loopPrng.chance(this.fsyncP)) continue;
        synced += n.disk.syncSome(this.loopPrng, faults ? this.loopPrng.range(1, 3) : 1_000);
      }
      if (synced === 0) break;
      await drain();
    }
    this.#observe();
    this.step++;
  }

  #observe(): void {
    for (const n of this.nodes.values()) {
      if (!n.up || n.driver === undefined) continue;
      this.checker.observe(`${n.id}#${n.incarnation}`, n.id, n.driver.status());
    }
  }

  /** The members as of the most advanced running node. */
  members(): NodeId[] {
    let best: DriverSimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.driver === undefined) continue;
      if (best === undefined || n.driver.appliedIndex > best.driver!.appliedIndex) best = n;
    }
    if (best === undefined) return [...this.bootstrap.voters];
    const conf = best.driver!.status().conf;
    return [...conf.voters, ...conf.learners];
  }

  /**
   * Faults stop; within 30 election timeouts a fresh command must be acknowledged and every
   * member must have applied through every acknowledged write (liveness and durability).
   */
  async quiet(): Promise<void> {
    this.nemesis.stop();
    this.pausedUntil.clear();
    // A broker snapshot is KBs: in 32-byte chunks catching up a member takes thousands of steps.
    const bound = this.#opts.app === "broker" ? 300 * ELECTION_TICKS : 30 * ELECTION_TICKS;
    const start = this.step;
    let finalCmd: number | undefined;
    while (this.step - start < bound && this.checker.violations.length === 0) {
      if (finalCmd === undefined && this.leaders().length > 0) {
        finalCmd = this.workload.newCommand();
      }
      await this.runStep(false, 0);
      if (finalCmd !== undefined && this.#allApplied(finalCmd)) {
        this.#checkConfAgreement();
        return;
      }
    }
    if (this.checker.violations.length > 0) return;
    this.checker.fail(
      "liveness",
      `no fresh command acknowledged and applied on every member within ${bound} quiet steps ` +
        `(final command ${finalCmd ?? "never proposed"}): ${this.describe()}`,
    );
  }

  /** Once every member applied the same log, they hold the same membership. */
  #checkConfAgreement(): void {
    const key = (id: NodeId) => {
      const c = this.nodes.get(id)!.driver!.status().conf;
      return `${[...c.voters].sort()}|${[...c.learners].sort()}`;
    };
    const ms = this.members();
    for (const id of ms) {
      if (key(id) !== key(ms[0])) {
        this.checker.fail(
          "conf_agreement",
          `after the quiet phase ${id} has membership ${key(id)}, ${ms[0]} has ${key(ms[0])}`,
        );
        return;
      }
    }
  }

  #allApplied(finalCmd: number): boolean {
    if (!this.workload.isDone(finalCmd)) return false;
    const through = this.workload.maxAckedIndex;
    return this.members().every((id) => {
      const d = this.nodes.get(id)?.driver;
      return d !== undefined && d.appliedIndex >= through;
    });
  }

  describe(): string {
    const parts: string[] = [];
    for (const n of this.nodes.values()) {
      if (n.driver === undefined) {
        parts.push(
          `${n.id}:${n.up ? "opening" : "down"}${this.retired.has(n.id) ? "(retired)" : ""}`,
        );
        continue;
      }
      const st = n.driver.status();
      parts.push(
        `${n.id}:${st.role} t${st.term} lead=${st.leaderId || "-"} commit=${st.commit} ` +
          `applied=${n.driver.appliedIndex} last=${st.lastIndex} conf=${st.conf.voters}/${st.conf.learners} ` +
          `pending-ops=${n.disk.pendingCount()}`,
      );
    }
    return parts.join("; ");
  }
}

/** Runs one seed; an exception anywhere is a violation too. */
export async function runDriverSeed(opts: DriverRunOptions): Promise<RunResult> {
  const sim = new DriverSim(opts);
  try {
    while (sim.step < opts.steps && sim.checker.violations.length === 0) {
      await sim.runStep(true, 0.3);
    }
    if (sim.checker.violations.length === 0) await sim.quiet();
  } catch (e) {
    const err = e as Error;
    const where = err.stack?.split("\n").slice(1, 4).map((s) => s.trim()).join(" < ") ?? "";
    sim.checker.violations.push({
      invariant: "exception",
      step: sim.step,
      message: `${err.message} (${where})`,
    });
  }
  let lostOps = 0;
  for (const n of sim.nodes.values()) lostOps += n.disk.stats.lostOps;
  return {
    seed: opts.seed,
    nodes: opts.nodes,
    steps: sim.step,
    violations: sim.checker.violations,
    trace: sim.traceLines,
    stats: { ...sim.network.stats, ...sim.nemesis.stats, ...sim.workload.stats, lostOps },
  };
}

/** What a driver campaign runs (without `nodes`: even seeds 3 nodes, odd seeds 5). */
export interface DriverCampaignOptions extends Omit<DriverRunOptions, "seed" | "nodes" | "trace"> {
  readonly firstSeed: number;
  readonly seeds: number;
  readonly nodes?: 3 | 5;
}

/** Runs the seeds in order; returns the total steps and the failing seeds. */
export async function runDriverCampaign(
  opts: DriverCampaignOptions,
  onProgress?: (done: number, steps: number, failures: number) => void,
): Promise<{ seeds: number; steps: number; failures: RunResult[] }> {
  const failures: RunResult[] = [];
  let steps = 0;
  for (let i = 0; i < opts.seeds; i++) {
    const seed = opts.firstSeed + i;
    const r = await runDriverSeed({ ...opts, seed, nodes: nodesForSeed(seed, opts.nodes) });
    steps += r.steps;
    if (r.violations.length > 0) failures.push(r);
    onProgress?.(i + 1, steps, failures.length);
  }
  return { seeds: opts.seeds, steps, failures };
}
