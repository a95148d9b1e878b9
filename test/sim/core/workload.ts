/**
 * The client workload: proposes commands with unique ids to whichever node it believes leads,
 * learns an outcome when its entry is applied on the node it proposed to (committed when the
 * entry applied at the index it got has the term it got), and retries with the same id when the
 * outcome is unknown (that node crashed, the entry was replaced, or it waited too long).
 *
 * @module
 */

import type { Entry, NodeId, ReadState } from "../../../cluster/raft/mod.ts";
import { decodeCommand, encodeCommand } from "../app.ts";
import type { Prng } from "../prng.ts";
import { LeaderGuess } from "../leader_guess.ts";
import type { SimNode } from "./sim_node.ts";

/** A command the client was told is committed, at the index and term it got. */
export interface Committed {
  readonly id: number;
  readonly index: number;
  readonly term: number;
  readonly step: number;
}

interface Attempt {
  readonly id: number;
  readonly node: NodeId;
  readonly incarnation: number;
  readonly index: number;
  readonly term: number;
  readonly step: number;
}

/** The simulated client. */
export class Workload {
  readonly committed: Committed[] = [];
  readonly stats = {
    proposed: 0,
    committed: 0,
    replaced: 0,
    unknown: 0,
    notLeader: 0,
    reads: 0,
    readsDone: 0,
  };
  /** Reads in flight by context: the highest index told committed when each one started. */
  readonly #reads = new Map<string, { minIndex: number; step: number }>();
  #nextRead = 1;
  #maxToldIndex = 0;
  /** Commands waiting for (another) attempt. */
  readonly #retry: number[] = [];
  /** Attempts waiting for an outcome, by `node@index`. */
  readonly #attempts = new Map<string, Attempt>();
  readonly #done = new Set<number>();
  #nextId = 1;
  readonly #leader = new LeaderGuess();
  readonly #prng: Prng;
  readonly #trace: (line: string) => void;
  /** Most commands waiting for an outcome at once (a client's window, as a real one has). */
  readonly inFlightMax = 16;
  /** Steps after which an attempt's outcome counts as unknown. */
  readonly timeoutSteps = 60;

  constructor(prng: Prng, trace: (line: string) => void) {
    this.#prng = prng;
    this.#trace = trace;
  }

  /** True once command `id` was told committed. */
  isCommitted(id: number): boolean {
    return this.#done.has(id);
  }

  /** Creates a new command and returns its id (it is proposed by `act`). */
  newCommand(): number {
    const id = this.#nextId++;
    this.#retry.push(id);
    return id;
  }

  /** Proposes waiting commands, with probability `rate` each step, and expires old attempts. */
  act(step: number, nodes: ReadonlyMap<NodeId, SimNode>, rate: number): void {
    for (const [key, a] of this.#attempts) {
      const n = nodes.get(a.node);
      if (
        n === undefined || !n.up || n.incarnation !== a.incarnation ||
        step - a.step > this.timeoutSteps
      ) {
        this.#attempts.delete(key);
        this.stats.unknown++;
        this.#requeue(a.id);
      }
    }
    const outstanding = this.#attempts.size + this.#retry.length;
    if (this.#retry.length === 0 && outstanding < this.inFlightMax && this.#prng.chance(rate)) {
      this.newCommand();
    }
    if (this.#retry.length === 0) return;
    const target = this.#leader.pick(nodes, this.#prng);
    if (target === undefined) return;
    const id = this.#retry[0];
    const r = target.raw.propose(encodeCommand(id));
    if (r.ok) {
      this.#retry.shift();
      this.stats.proposed++;
      const a = { id, node: target.id, incarnation: target.incarnation, ...r, step };
      this.#attempts.set(`${target.id}@${r.index}`, a);
      this.#trace(`client propose cmd ${id} to ${target.id} -> ${r.index}/${r.term}`);
      return;
    }
    if (r.reason === "not_leader") {
      this.stats.notLeader++;
      this.#leader.id = r.leaderId;
    }
  }

  /** `node` applied `e`: settles the attempt proposed to it at that index, if any. */
  onApply(node: SimNode, e: Entry, step: number): void {
    const key = `${node.id}@${e.index}`;
    const a = this.#attempts.get(key);
    if (a === undefined || a.incarnation !== node.incarnation) return;
    this.#attempts.delete(key);
    if (e.term === a.term && decodeCommand(e.data) === a.id) {
      if (!this.#done.has(a.id)) {
        this.#done.add(a.id);
        this.committed.push({ id: a.id, index: e.index, term: e.term, step });
        this.#maxToldIndex = Math.max(this.#maxToldIndex, e.index);
        this.stats.committed++;
        this.#trace(`client committed cmd ${a.id} at ${e.index}/${e.term} via ${node.id}`);
      }
      return;
    }
    // Another entry took the index: this attempt did not commit there; propose again.
    this.stats.replaced++;
    this.#requeue(a.id);
  }

  /**
   * Starts a linearizable read (ReadIndex, dissertation §6.4) on the node believed to lead, with
   * probability `rate`. Reads that never complete (leadership lost) are forgotten after a while.
   */
  read(step: number, nodes: ReadonlyMap<NodeId, SimNode>, rate: number): void {
    for (const [ctx, r] of this.#reads) {
      if (step - r.step > this.timeoutSteps) this.#reads.delete(ctx);
    }
    if (!this.#prng.chance(rate)) return;
    const target = this.#leader.pick(nodes, this.#prng);
    if (target === undefined) return;
    const ctx = `read:${this.#nextRead++}`;
    this.#reads.set(ctx, { minIndex: this.#maxToldIndex, step });
    this.stats.reads++;
    target.raw.readIndex(new TextEncoder().encode(ctx));
  }

  /**
   * A read completed at `rs.index`. Returns an error message when the read is stale: a write the
   * client was told committed before the read started lies beyond the read index.
   */
  onReadState(node: SimNode, rs: ReadState): string | undefined {
    const ctx = new TextDecoder().decode(rs.context);
    const r = this.#reads.get(ctx);
    if (r === undefined) return undefined;
    this.#reads.delete(ctx);
    this.stats.readsDone++;
    if (rs.index >= r.minIndex) return undefined;
    return `${node.id} answered ${ctx} (started at step ${r.step}) at index ${rs.index}, but index ` +
      `${r.minIndex} was told committed before the read started`;
  }

  /** The proposing node restored a snapshot past an attempt: its outcome is unknown. */
  onRestore(node: SimNode, index: number): void {
    for (const [key, a] of this.#attempts) {
      if (a.node === node.id && a.index <= index) {
        this.#attempts.delete(key);
        this.stats.unknown++;
        this.#requeue(a.id);
      }
    }
  }

  /** Queues command `id` for another attempt, once, unless it is known committed. */
  #requeue(id: number): void {
    if (!this.#done.has(id) && !this.#retry.includes(id)) this.#retry.push(id);
  }
}
