/**
 * The fault schedule. Each seed draws a profile (how often to crash, partition, degrade links,
 * change membership, transfer leadership), then every step may inject one more fault or repair
 * one. Leaders with uncommitted entries are crashed much more often than other nodes and come
 * back quickly: that is the shape of Raft Figure 8, where a leader of an older term re-replicates
 * its old entry, and it is where commit-rule bugs hide.
 *
 * @module
 */

import type { ConfChange, NodeId, RaftStatus } from "../../../cluster/raft/mod.ts";
import { CLEAN_LINKS, type LinkFaults, type Network } from "../network.ts";
import type { Prng } from "../prng.ts";

/** What the nemesis sees of a node: the RawNode sim's `SimNode` and the driver sim's node. */
export interface NemesisNode {
  readonly id: NodeId;
  readonly up: boolean;
  status(): RaftStatus;
}

/** What the nemesis may do to the cluster; implemented by the run. */
export interface ClusterControl {
  readonly nodes: ReadonlyMap<NodeId, NemesisNode>;
  readonly network: Network;
  /** Up nodes that believe they lead, highest term first. */
  leaders(): NemesisNode[];
  crash(id: NodeId): void;
  restart(id: NodeId): void;
  /** Creates and starts a node with a never-used id (empty disk). */
  addNode(): NemesisNode;
  /** Proposes `cc` at `leader`; returns the outcome for the trace. */
  proposeConfChange(leader: NemesisNode, cc: ConfChange): string;
  /** Starts a leadership transfer at `leader`; returns the outcome for the trace. */
  transferLeadership(leader: NemesisNode, to: NodeId | undefined): string;
  /** Stops a node for good (it was removed from the membership). */
  retire(id: NodeId): void;
  pause(id: NodeId, untilStep: number): void;
  trace(line: string): void;
}

/** Told of the faults as they happen (the bounded-elections check); draws no randomness. */
export interface NemesisObserver {
  onPartition(shape: "halves" | "one_way" | "bridge" | "isolate", step: number): void;
  onHeal(): void;
  /** A fault after which an election is legitimate (crash, restart, transfer, conf change, pause). */
  onDisruption(step: number): void;
}

/** How often each fault happens in one seed, drawn from the seed. */
export interface NemesisProfile {
  readonly crashP: number;
  readonly leaderCrashP: number;
  readonly downStepsMax: number;
  readonly partitionP: number;
  readonly partitionStepsMax: number;
  readonly linkChangeP: number;
  readonly membershipP: number;
  readonly transferP: number;
  readonly pauseP: number;
  /** Probability per step that a Figure-8 storm starts (see `Nemesis.act`). */
  readonly stormP: number;
}

/**
 * Draws a profile: some seeds are crash-heavy, some partition-heavy, most mix both. A
 * production-setting seed always mixes crashes and restarts, partitions and membership changes:
 * together they reach what the production thresholds leave on disk at a restart (docs/reliability.md item 11).
 */
export function drawProfile(prng: Prng, production = false): NemesisProfile {
  const p = drawBaseProfile(prng);
  if (!production) return p;
  return {
    ...p,
    crashP: 0.01 + 0.01 * prng.next(),
    leaderCrashP: 0.005,
    partitionP: 0.01 + 0.01 * prng.next(),
    membershipP: 0.02 + 0.02 * prng.next(),
    stormP: 0,
  };
}

function drawBaseProfile(prng: Prng): NemesisProfile {
  const crashy = prng.chance(0.6);
  return {
    crashP: crashy ? 0.004 + prng.next() * 0.01 : 0.001,
    leaderCrashP: crashy ? 0.02 + prng.next() * 0.06 : 0.005,
    downStepsMax: prng.pick([8, 20, 60]),
    partitionP: prng.chance(0.7) ? 0.004 + prng.next() * 0.01 : 0,
    partitionStepsMax: prng.pick([15, 40, 100]),
    linkChangeP: 0.01 + prng.next() * 0.02,
    membershipP: prng.chance(0.6) ? 0.005 + prng.next() * 0.01 : 0,
    transferP: prng.chance(0.4) ? 0.002 + prng.next() * 0.006 : 0,
    pauseP: prng.chance(0.3) ? 0.003 : 0,
    stormP: prng.chance(0.7) ? 0.01 + prng.next() * 0.02 : 0,
  };
}

function drawLinks(prng: Prng): LinkFaults {
  switch (prng.int(5)) {
    case 0:
      return CLEAN_LINKS;
    case 1:
      return { dropP: 0, duplicateP: 0, delayStepsMax: prng.range(1, 6) };
    case 2:
      // Late messages: some arrive after two or three election timeouts, from older terms.
      return { dropP: 0.05, duplicateP: 0.1, delayStepsMax: prng.range(15, 30) };
    default:
      return {
        dropP: prng.next() * 0.25,
        duplicateP: prng.next() * 0.1,
        delayStepsMax: prng.int(8),
      };
  }
}

/** The fault schedule of one seed. */
export class Nemesis {
  readonly profile: NemesisProfile;
  readonly stats = { crashes: 0, leaderCrashes: 0, partitions: 0, confChanges: 0, transfers: 0 };
  readonly #prng: Prng;
  readonly #c: ClusterControl;
  readonly #restartAt = new Map<NodeId, number>();
  #healAt = -1;
  /** The step at which the current Figure-8 storm ends (-1: none). */
  #stormUntil = -1;
  #leaderCommit = 0;
  #leaderTerm = 0;
  /** Nodes removed from the membership, and the step at which to stop them. */
  readonly #retireAt = new Map<NodeId, number>();
  observer: NemesisObserver | undefined;

  /** Removed nodes keep running (not retired): what an operator who forgot them leaves behind. */
  readonly #keepRemovedRunning: boolean;

  constructor(prng: Prng, cluster: ClusterControl, opts: { production?: boolean } = {}) {
    this.#prng = prng;
    this.#c = cluster;
    this.profile = drawProfile(prng, opts.production ?? false);
    this.#keepRemovedRunning = opts.production ?? false;
  }

  /** True while a Figure-8 storm lasts. */
  inStorm(step: number): boolean {
    return this.#stormUntil >= step;
  }

  /** One step of faults and repairs. */
  act(step: number): void {
    this.#repair(step);
    const p = this.profile;
    const rng = this.#prng;
    const leader = this.#c.leaders()[0];
    const storm = this.#storm(step);
    if (leader !== undefined) {
      const st = leader.status();
      // A leader with entries not yet committed: crashing it now leaves them on a minority. In a
      // storm, a leader that just advanced its commit is crashed too: followers have not heard.
      const newLeader = st.term !== this.#leaderTerm;
      const justCommitted = st.commit > this.#leaderCommit && !newLeader;
      this.#leaderCommit = st.commit;
      this.#leaderTerm = st.term;
      if (storm) this.#stormHit(leader, step, newLeader, justCommitted, st.lastIndex > st.commit);
      else if (st.lastIndex > st.commit && rng.chance(p.leaderCrashP)) {
        this.stats.leaderCrashes++;
        this.#crash(leader.id, step, Math.min(p.downStepsMax, 15));
      }
    }
    if (rng.chance(p.crashP)) {
      const up = this.#upNodes();
      if (up.length > 0) this.#crash(rng.pick(up).id, step, p.downStepsMax);
    }
    if (this.#healAt < 0 && rng.chance(p.partitionP)) this.#partition(step);
    if (rng.chance(p.linkChangeP)) this.#c.network.faults = drawLinks(rng);
    // A learner waiting for promotion gets it (or is removed) soon, so promotions are common.
    const learnerWaits = p.membershipP > 0 && leader !== undefined && leader.up &&
      leader.status().conf.learners.length > 0;
    if (rng.chance(p.membershipP) || (learnerWaits && rng.chance(0.03))) this.#changeMembership();
    if (rng.chance(p.transferP) && leader !== undefined && leader.up) {
      const voters = leader.status().conf.voters.filter((v) => v !== leader.id);
      const to = voters.length > 0 && rng.chance(0.7) ? rng.pick(voters) : undefined;
      this.observer?.onDisruption(step);
      const r = this.#c.transferLeadership(leader, to);
      this.stats.transfers++;
      this.#c.trace(`nemesis transfer ${leader.id} -> ${to ?? "(best)"}: ${r}`);
    }
    if (rng.chance(p.pauseP)) {
      const up = this.#upNodes();
      if (up.length > 0) {
        const until = step + rng.range(5, 40);
        this.#c.pause(rng.pick(up).id, until);
        this.observer?.onDisruption(until);
      }
    }
  }

  /**
   * Figure-8 storms (Raft §5.4.2): for a while, leaders are crashed as soon as they hold
   * uncommitted entries and come back within a few steps, and links are lossy, so entries of old
   * terms keep being re-replicated by later leaders. Returns true while a storm lasts.
   */
  #storm(step: number): boolean {
    if (this.#stormUntil >= step) return true;
    if (this.#stormUntil >= 0) {
      this.#stormUntil = -1;
      this.#c.network.faults = CLEAN_LINKS;
      this.#c.trace("nemesis storm ends");
    }
    if (!this.#prng.chance(this.profile.stormP)) return false;
    this.#stormUntil = step + this.#prng.range(40, 150);
    this.#c.network.faults = {
      dropP: 0.1 + 0.3 * this.#prng.next(),
      duplicateP: 0.05,
      delayStepsMax: 3,
    };
    this.#c.trace(`nemesis storm until ${this.#stormUntil}`);
    return true;
  }

  /**
   * A storm's blow at the leader: right after it is elected, right after it advanced its commit
   * (followers have not heard yet), or while it holds uncommitted entries. Isolating it loses its
   * messages in flight too, which a crash would not (they already left).
   */
  #stormHit(
    leader: NemesisNode,
    step: number,
    fresh: boolean,
    committed: boolean,
    pending: boolean,
  ): void {
    const rng = this.#prng;
    const p = fresh ? 0.4 : committed ? 0.5 : pending ? 0.2 : 0;
    if (!rng.chance(p)) return;
    this.stats.leaderCrashes++;
    if (rng.chance(0.5)) {
      this.#crash(leader.id, step, 25);
      return;
    }
    const others = [...this.#c.nodes.keys()].filter((id) => id !== leader.id);
    this.#c.network.cutBetween([leader.id], others);
    if (this.#healAt < 0) this.#healAt = step + rng.range(5, 40);
    this.#c.trace(`nemesis storm isolates ${leader.id} until ${this.#healAt}`);
  }

  #upNodes(): NemesisNode[] {
    return [...this.#c.nodes.values()].filter((n) => n.up);
  }

  #crash(id: NodeId, step: number, downStepsMax: number): void {
    this.stats.crashes++;
    this.observer?.onDisruption(step);
    this.#c.crash(id);
    this.#restartAt.set(id, step + this.#prng.range(1, downStepsMax));
  }

  #repair(step: number): void {
    for (const [id, at] of this.#restartAt) {
      if (at <= step) {
        this.#restartAt.delete(id);
        this.observer?.onDisruption(step);
        if (!this.#retireAt.has(id)) this.#c.restart(id);
      }
    }
    for (const [id, at] of this.#retireAt) {
      if (at <= step) {
        this.#retireAt.delete(id);
        this.observer?.onDisruption(step);
        this.#c.retire(id);
      }
    }
    if (this.#healAt >= 0 && this.#healAt <= step) {
      this.#healAt = -1;
      this.#c.network.heal();
      this.observer?.onHeal();
      this.#c.trace("nemesis heal");
    }
  }

  /** Cuts the network into one of the shapes that hurt consensus (docs/reliability.md item 5). */
  #partition(step: number): void {
    const rng = this.#prng;
    const ids = rng.shuffle([...this.#c.nodes.keys()]);
    const net = this.#c.network;
    const shape = rng.int(4);
    const k = rng.range(1, Math.max(1, Math.floor(ids.length / 2)));
    if (shape === 0) {
      net.cutBetween(ids.slice(0, k), ids.slice(k)); // halves (or isolate one when k = 1)
      this.observer?.onPartition("halves", step);
    } else if (shape === 1) {
      for (const y of ids.slice(k)) for (const x of ids.slice(0, k)) net.cut(x, y); // one way
      this.observer?.onPartition("one_way", step);
    } else if (shape === 2 && ids.length >= 3) {
      // A bridge: ids[0] sees both sides, the sides do not see each other.
      const rest = ids.slice(1);
      const half = Math.max(1, Math.floor(rest.length / 2));
      net.cutBetween(rest.slice(0, half), rest.slice(half));
      this.observer?.onPartition("bridge", step);
    } else {
      net.cutBetween([ids[0]], ids.slice(1)); // isolate one
      this.observer?.onPartition("isolate", step);
    }
    this.stats.partitions++;
    this.#healAt = step + rng.range(3, this.profile.partitionStepsMax);
    this.#c.trace(`nemesis partition shape ${shape}: ${net.describeCuts()}`);
  }

  /** One single-server change at the current leader (§4.1), the leader itself sometimes removed. */
  #changeMembership(): void {
    const leader = this.#c.leaders()[0];
    if (leader === undefined) return;
    const rng = this.#prng;
    const conf = leader.status().conf;
    let cc: ConfChange;
    if (conf.learners.length > 0) {
      cc = { op: rng.chance(0.8) ? "promote" : "remove", nodeId: rng.pick(conf.learners) };
    } else if (conf.voters.length <= 3 || (conf.voters.length < 6 && rng.chance(0.5))) {
      cc = { op: "add_learner", nodeId: this.#c.addNode().id };
    } else {
      const victim = rng.chance(0.3) ? leader.id : rng.pick(conf.voters);
      cc = { op: "remove", nodeId: victim };
    }
    const r = this.#c.proposeConfChange(leader, cc);
    this.stats.confChanges++;
    this.#c.trace(`nemesis conf ${cc.op} ${cc.nodeId} at ${leader.id}: ${r}`);
  }

  /**
   * A node applied its own removal or saw it applied: stop it for good a little later (or never,
   * on production-setting seeds).
   */
  scheduleRetire(id: NodeId, step: number): void {
    if (this.#keepRemovedRunning) return;
    if (!this.#retireAt.has(id)) this.#retireAt.set(id, step + this.#prng.range(1, 30));
  }

  /** Ends every fault: the quiet phase. Crashed nodes restart at once; retired ones stay down. */
  stop(): void {
    this.#c.network.heal();
    this.observer?.onHeal();
    this.#c.network.faults = CLEAN_LINKS;
    this.#healAt = -1;
    for (const id of this.#restartAt.keys()) if (!this.#retireAt.has(id)) this.#c.restart(id);
    this.#restartAt.clear();
    for (const id of this.#retireAt.keys()) this.#c.retire(id);
    this.#retireAt.clear();
  }
}
