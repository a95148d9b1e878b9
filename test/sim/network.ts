/**
 * The fake network between simulated nodes. Time is the simulator's step counter. Each message
 * sent is dropped, delayed by some steps (which also reorders it against its neighbours) or
 * duplicated, as the current fault rates say; partitions are a set of cut directed links, checked
 * when a message would be delivered, so a cut also loses what was already in flight.
 *
 * @module
 */

import type { Message, NodeId } from "../../cluster/raft/mod.ts";
import type { Prng } from "./prng.ts";

/** The fault rates the nemesis sets; all zero except `delayStepsMax` means a clean network. */
export interface LinkFaults {
  /** Probability that a message is lost. */
  readonly dropP: number;
  /** Probability that a message is delivered twice (each copy with its own delay). */
  readonly duplicateP: number;
  /** A message arrives 1 + [0, delayStepsMax] steps after it was sent. */
  readonly delayStepsMax: number;
}

/** The network with no faults: every message arrives on the next step, in order. */
export const CLEAN_LINKS: LinkFaults = { dropP: 0, duplicateP: 0, delayStepsMax: 0 };

interface InFlight {
  readonly msg: Message;
  readonly seq: number;
}

/** Messages in flight, per delivery step, plus the set of cut links. */
export class Network {
  faults: LinkFaults = CLEAN_LINKS;
  /** Counters for the campaign summary and the trace. */
  readonly stats = { sent: 0, dropped: 0, duplicated: 0, delivered: 0, cutLost: 0 };
  readonly #prng: Prng;
  readonly #byStep = new Map<number, InFlight[]>();
  /** Cut directed links, as `from>to`. */
  readonly #cut = new Set<string>();
  #seq = 0;

  constructor(prng: Prng) {
    this.#prng = prng;
  }

  /** Hands `msg` to the network at step `now`. */
  send(msg: Message, now: number): void {
    this.stats.sent++;
    if (this.#prng.chance(this.faults.dropP)) {
      this.stats.dropped++;
      return;
    }
    this.#enqueue(msg, now);
    if (this.#prng.chance(this.faults.duplicateP)) {
      this.stats.duplicated++;
      this.#enqueue(msg, now);
    }
  }

  #enqueue(msg: Message, now: number): void {
    const at = now + 1 +
      (this.faults.delayStepsMax > 0 ? this.#prng.int(this.faults.delayStepsMax + 1) : 0);
    let bucket = this.#byStep.get(at);
    if (bucket === undefined) {
      bucket = [];
      this.#byStep.set(at, bucket);
    }
    bucket.push({ msg, seq: this.#seq++ });
  }

  /** The messages due at step `now` that cross no cut link, in sending order. */
  deliverDue(now: number): Message[] {
    const bucket = this.#byStep.get(now);
    if (bucket === undefined) return [];
    this.#byStep.delete(now);
    const out: Message[] = [];
    for (const f of bucket) {
      if (this.#cut.has(`${f.msg.from}>${f.msg.to}`)) {
        this.stats.cutLost++;
        continue;
      }
      out.push(f.msg);
    }
    this.stats.delivered += out.length;
    return out;
  }

  /** Messages still in flight (for the quiet phase and the trace). */
  inFlightCount(): number {
    let n = 0;
    for (const b of this.#byStep.values()) n += b.length;
    return n;
  }

  /** Cuts the link from `from` to `to` (one way). */
  cut(from: NodeId, to: NodeId): void {
    this.#cut.add(`${from}>${to}`);
  }

  /** Cuts every link between group `a` and group `b`, both ways. */
  cutBetween(a: readonly NodeId[], b: readonly NodeId[]): void {
    for (const x of a) {
      for (const y of b) {
        this.cut(x, y);
        this.cut(y, x);
      }
    }
  }

  /** True when messages from `from` to `to` are lost. */
  isCut(from: NodeId, to: NodeId): boolean {
    return this.#cut.has(`${from}>${to}`);
  }

  /** The cut links, sorted, for the trace. */
  describeCuts(): string {
    return [...this.#cut].sort().join(",");
  }

  /** Repairs every link. */
  heal(): void {
    this.#cut.clear();
  }
}
