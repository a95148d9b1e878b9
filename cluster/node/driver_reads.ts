/**
 * The driver's linearizable reads (ReadIndex, Raft dissertation §6.4): each asked of the leader
 * under a key unique to this incarnation of the node, answered once the read index is applied
 * here, asked again when the leader changes, failed when their time is up or at close.
 *
 * @module
 */

import { NO_NODE, type NodeId, type RawNode, type ReadState } from "../raft/mod.ts";
import type { DriverReadOutcome } from "./driver_options.ts";

interface PendingRead {
  readonly deadlineTick: number;
  /** The term when the read was last asked: an answer from an older term is not for it. */
  term: number;
  readonly resolve: (o: DriverReadOutcome) => void;
}

/** Reads waiting for the leader's read index, by key. */
export class PendingReads {
  #reads = new Map<string, PendingRead>();
  /** `${id}:${incarnation}:`, the prefix of this incarnation's read keys. */
  readonly #keyPrefix: string;
  #seq = 0;
  /** Set when the leader changed while reads were pending; see `reissue`. */
  toReissue = false;

  /**
   * `incarnation` tells this start of the node apart from every other one, so an answer meant for
   * an earlier incarnation, still in flight, never settles a read of this one. Default: 64
   * random bits.
   */
  constructor(id: NodeId, incarnation: string | undefined) {
    this.#keyPrefix = `${id}:${incarnation ?? randomIncarnation()}:`;
  }

  get size(): number {
    return this.#reads.size;
  }

  /** Asks the core for a read index; resolves as the read is answered, expires or closes. */
  ask(raw: RawNode, deadlineTick: number): Promise<DriverReadOutcome> {
    const key = `${this.#keyPrefix}${++this.#seq}`;
    const term = raw.status().term;
    const p = new Promise<DriverReadOutcome>((resolve) => {
      this.#reads.set(key, { deadlineTick, term, resolve });
    });
    raw.readIndex(new TextEncoder().encode(key));
    return p;
  }

  /**
   * Settles the reads a Ready answers, once their read index is applied here (`waitApplied`,
   * within what is left of their time).
   */
  answer(
    readStates: readonly ReadState[],
    ticks: number,
    tickMs: number,
    waitApplied: (index: number, timeoutMs: number) => Promise<boolean>,
  ): void {
    for (const rs of readStates) {
      const key = new TextDecoder().decode(rs.context);
      const r = this.#reads.get(key);
      if (!r || rs.term < r.term) continue;
      this.#reads.delete(key);
      waitApplied(rs.index, Math.max(1, r.deadlineTick - ticks) * tickMs)
        .then((ok) =>
          r.resolve(ok ? { ok: true, index: rs.index } : { ok: false, reason: "timeout" })
        );
    }
  }

  /**
   * Asks the current leader again for every pending read. A leader that loses its office drops
   * the ReadIndex requests it holds (a new leader cannot confirm an old term's heartbeat round,
   * dissertation §6.4), so without this a read that reached a deposed leader waits for its whole
   * timeout although the new leader could answer it at once. A late answer to the first request
   * finds the key settled and is ignored; either answer is a valid read index.
   */
  reissue(raw: RawNode, leaderId: NodeId): void {
    this.toReissue = false;
    if (leaderId === NO_NODE) return;
    const term = raw.status().term;
    for (const [key, r] of this.#reads) {
      r.term = term;
      raw.readIndex(new TextEncoder().encode(key));
    }
  }

  /** Fails reads whose time is up. */
  expire(tick: number): void {
    for (const [key, r] of this.#reads) {
      if (r.deadlineTick <= tick) {
        this.#reads.delete(key);
        r.resolve({ ok: false, reason: "timeout" });
      }
    }
  }

  /** Answers `closed` to every read (shutdown). */
  close(): void {
    for (const r of this.#reads.values()) r.resolve({ ok: false, reason: "closed" });
    this.#reads.clear();
  }
}

/** 64 random bits in hex: one incarnation of a node among all of its starts. */
function randomIncarnation(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
