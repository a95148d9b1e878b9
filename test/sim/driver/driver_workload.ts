/**
 * The client of the driver simulation: proposes commands through `NodeDriver.propose()` and
 * reads through `readIndex()`, and holds every outcome the driver gives to its contract:
 * - `ok` (index, result): the entry applied at that index is this attempt's, with that result;
 * - `dropped`: this attempt's entry never applies anywhere (before or after the answer);
 * - `not_leader` / `unknown_outcome` / `closed`: retried (a new attempt of the same command);
 * - a read that resolves at index r: r covers every write acknowledged before the read started,
 *   and the node has applied through r.
 * Every attempt has its own bytes (`<command>.<attempt>`), so the checks can tell attempts apart.
 *
 * @module
 */

import type { DriverProposeOutcome, DriverReadOutcome } from "../../../cluster/node/mod.ts";
import type { NodeId } from "../../../cluster/raft/mod.ts";
import type { DriverChecker } from "./driver_checks.ts";
import { type DriverSimNode, TICK_MS } from "./driver_node.ts";
import type { Prng } from "../prng.ts";
import { LeaderGuess } from "../leader_guess.ts";

/**
 * Turns an attempt key into the bytes proposed to `target` (the broker wraps it in a command,
 * encoded by the target's app, which applies its own entries from the proposal: `BrokerSimApp`).
 */
export type Payload = (key: string, step: number, target: DriverSimNode) => Uint8Array;

/** Ticks a proposal or read may wait in the driver before it answers `unknown_outcome`. */
export const CLIENT_TIMEOUT_TICKS = 60;

interface Attempt {
  readonly key: string;
  readonly cmd: number;
  readonly node: NodeId;
  readonly incarnation: number;
  readonly data: Uint8Array;
}

function bytesKey(data: Uint8Array): string {
  let s = "";
  for (let i = 0; i < data.length; i++) s += String.fromCharCode(data[i]);
  return s;
}

/** The simulated client of the driver simulation. */
export class DriverWorkload {
  readonly stats = {
    proposed: 0,
    ok: 0,
    notLeader: 0,
    unknown: 0,
    propDropped: 0,
    closed: 0,
    reads: 0,
    readsOk: 0,
  };
  /** Every `ok` outcome: command, index. */
  readonly acked: { cmd: number; index: number }[] = [];
  maxAckedIndex = 0;
  readonly inFlightMax = 16;
  readonly #retry: number[] = [];
  readonly #inFlight = new Map<string, Attempt>();
  readonly #byBytes = new Map<string, string>();
  readonly #appliedKeys = new Set<string>();
  readonly #droppedKeys = new Set<string>();
  readonly #done = new Set<number>();
  #nextCmd = 1;
  #nextAttempt = 1;
  readonly #reads = new Map<number, { node: DriverSimNode; incarnation: number }>();
  #nextRead = 1;
  readonly #leader = new LeaderGuess();

  constructor(
    readonly prng: Prng,
    readonly checker: DriverChecker,
    readonly payload: Payload,
    readonly trace: (line: string) => void,
  ) {}

  /** True once command `cmd` got an `ok`. */
  isDone(cmd: number): boolean {
    return this.#done.has(cmd);
  }

  newCommand(): number {
    const cmd = this.#nextCmd++;
    this.#retry.push(cmd);
    return cmd;
  }

  /** Proposes a waiting command with probability `rate`; forgets attempts of crashed nodes. */
  act(step: number, nodes: ReadonlyMap<NodeId, DriverSimNode>, rate: number): void {
    for (const [key, a] of this.#inFlight) {
      const n = nodes.get(a.node);
      if (n === undefined || !n.up || n.incarnation !== a.incarnation) {
        this.#inFlight.delete(key);
        this.stats.unknown++;
        this.#requeue(a.cmd);
      }
    }
    const outstanding = this.#inFlight.size + this.#retry.length;
    if (this.#retry.length === 0 && outstanding < this.inFlightMax && this.prng.chance(rate)) {
      this.newCommand();
    }
    if (this.#retry.length === 0) return;
    const target = this.#leader.pick(nodes, this.prng);
    if (target?.driver === undefined) return;
    const cmd = this.#retry.shift()!;
    const key = `${cmd}.${this.#nextAttempt++}`;
    const data = this.payload(key, step, target);
    this.#byBytes.set(bytesKey(data), key);
    const a: Attempt = { key, cmd, node: target.id, incarnation: target.incarnation, data };
    this.#inFlight.set(key, a);
    this.stats.proposed++;
    target.driver.propose(data, CLIENT_TIMEOUT_TICKS * TICK_MS).then((o) => this.#settle(a, o));
  }

  #settle(a: Attempt, o: DriverProposeOutcome): void {
    if (!this.#inFlight.delete(a.key)) return;
    if (o.ok) {
      this.stats.ok++;
      const rec = this.checker.applied.get(o.index);
      if (rec === undefined || this.#byBytes.get(bytesKey(rec.data)) !== a.key) {
        this.checker.fail(
          "proposal_ok",
          `attempt ${a.key} via ${a.node} answered ok at ${o.index}, but ${o.index} applied ${
            rec === undefined ? "nothing" : this.#byBytes.get(bytesKey(rec.data)) ?? "other data"
          }`,
        );
      }
      if (!this.#done.has(a.cmd)) {
        this.#done.add(a.cmd);
        this.acked.push({ cmd: a.cmd, index: o.index });
        this.maxAckedIndex = Math.max(this.maxAckedIndex, o.index);
      }
      this.trace(`client ok ${a.key} at ${o.index} via ${a.node}`);
      return;
    }
    if (o.reason === "dropped") {
      this.stats.propDropped++;
      this.#droppedKeys.add(a.key);
      if (this.#appliedKeys.has(a.key)) {
        this.checker.fail("proposal_dropped", `attempt ${a.key} answered dropped but was applied`);
      }
    } else if (o.reason === "not_leader") {
      this.stats.notLeader++;
      this.#leader.id = o.leaderId;
    } else if (o.reason === "closed") this.stats.closed++;
    else this.stats.unknown++;
    this.trace(`client ${o.reason} ${a.key} via ${a.node}`);
    this.#requeue(a.cmd);
  }

  /** Some node applied `data`: a dropped attempt must never apply. */
  onApply(data: Uint8Array): void {
    const key = this.#byBytes.get(bytesKey(data));
    if (key === undefined) return;
    this.#appliedKeys.add(key);
    if (this.#droppedKeys.has(key)) {
      this.checker.fail("proposal_dropped", `attempt ${key} was answered dropped, then applied`);
    }
  }

  /**
   * Starts a linearizable read (dissertation §6.4) with probability `rate`: its answer must cover
   * every write acknowledged before it started.
   */
  read(nodes: ReadonlyMap<NodeId, DriverSimNode>, rate: number): void {
    // Reads sent to a node that crashed since never answer: forget them.
    for (const [k, r] of this.#reads) {
      if (!r.node.up || r.node.incarnation !== r.incarnation) this.#reads.delete(k);
    }
    if (this.#reads.size >= 4 || !this.prng.chance(rate)) return;
    const target = this.#leader.pick(nodes, this.prng);
    const d = target?.driver;
    if (target === undefined || d === undefined) return;
    const minIndex = this.maxAckedIndex;
    const inc = target.incarnation;
    this.stats.reads++;
    const readId = this.#nextRead++;
    this.#reads.set(readId, { node: target, incarnation: inc });
    d.readIndex(CLIENT_TIMEOUT_TICKS * TICK_MS).then((o: DriverReadOutcome) => {
      this.#reads.delete(readId);
      if (!o.ok) return;
      this.stats.readsOk++;
      if (o.index < minIndex || d.appliedIndex < o.index) {
        this.checker.fail(
          "linearizable_read",
          `${target.id}#${inc} answered a read at ${o.index} (applied ${d.appliedIndex}), but ` +
            `${minIndex} was acknowledged before the read started`,
        );
      }
    });
  }

  #requeue(cmd: number): void {
    if (!this.#done.has(cmd) && !this.#retry.includes(cmd)) this.#retry.push(cmd);
  }
}
