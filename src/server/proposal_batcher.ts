/**
 * One Raft entry per batch of proposals. Every proposal of the leader (HTTP, stream, MQTT,
 * ticks) is packed and queued here; the node driver gathers the queue right before it takes its
 * next Ready (`NodeDriver.setProposalGatherer`): what arrived in one event-loop turn, or while
 * the previous Ready's fsync ran (group commit), becomes one entry, stamped once and proposed in
 * the same synchronous step (so only a leader's clock reaches an entry, as before). The entry
 * costs one envelope, one log record and CRC, one slot in the appends and one apply call on every
 * node, instead of one per proposal; each proposer still gets its own result (the batch's
 * results are in order, src/broker/envelope.ts).
 *
 * A new entry starts where a bound would be passed (`BATCH_BOUNDS`: bytes and count), where a
 * proposal must go alone (`session_open`: its session id is its entry's index; one over 8 KiB
 * packed, which shares its entry among its own messages already), and where the
 * timeout changes (the driver keeps one deadline per entry, so every proposer keeps its own).
 * Queue order is kept: proposals become entries, and commands within them, in arrival order.
 *
 * @module
 */

import type { DriverProposeOutcome, NodeDriver } from "../../cluster/node/mod.ts";
import {
  BATCH_BOUNDS,
  type BatchBounds,
  BatchResults,
  type DecodedEntry,
  encodeEntry,
  type EntryClock,
  ownEntry,
  type PackedProposal,
  type Proposal,
  proposalBytes,
  splitRuns,
} from "../broker/mod.ts";

/** What one proposer hears: the driver's outcome, with its own command's result when ok. */
export type ItemOutcome = DriverProposeOutcome;

/**
 * What a proposer hears, made by `proposeMapped`'s caller from the driver's outcome and (when
 * it is ok) the proposer's own result: one object per proposal instead of an `ItemOutcome` the
 * caller would turn into its own.
 */
export type OutcomeMap<T> = (out: DriverProposeOutcome, result: unknown) => T;

interface Waiting extends PackedProposal {
  readonly timeoutMs: number;
  readonly resolve: (o: unknown) => void;
  readonly map: OutcomeMap<unknown>;
}

/** `ItemOutcome` itself: the driver's outcome with the proposer's own result. */
const itemOutcome: OutcomeMap<ItemOutcome> = (out, result) => out.ok ? { ...out, result } : out;

/** The driver as the batcher uses it (a port, so tests can count entries). */
export type BatchDriver = Pick<
  NodeDriver,
  "propose" | "setProposalGatherer" | "wake"
>;

/** What the state machine is told of the entries this node proposes (`BrokerMachine`). */
export interface OwnProposals {
  /** An entry proposed: its bytes, and what they decode to when `ownEntry` knows. */
  proposed(data: Uint8Array, entry: DecodedEntry | undefined): void;
  /** The driver settled one proposed entry (after applying it, or failing it). */
  settled(): void;
}

export class ProposalBatcher {
  #queue: Waiting[] = [];
  readonly #driver: BatchDriver;
  readonly #clock: EntryClock;
  readonly #bounds: BatchBounds;
  /** Entries proposed and proposals carried by them (metrics, benchmarks). */
  readonly counters = { entries: 0, proposals: 0 };

  /** Told of each entry proposed and of its settling (see `OwnProposals`). */
  readonly #own: OwnProposals | undefined;

  /**
   * `own`: the state machine (`BrokerMachine`), so this node applies the entries it proposes from
   * the proposals themselves instead of decoding their bytes (`ownEntry`), and knows whether any
   * of its proposals waits for an answer.
   */
  constructor(
    driver: BatchDriver,
    clock: EntryClock,
    bounds: BatchBounds = BATCH_BOUNDS,
    own?: OwnProposals,
  ) {
    this.#driver = driver;
    this.#clock = clock;
    this.#bounds = bounds;
    this.#own = own;
    driver.setProposalGatherer(() => this.flush());
  }

  /** Queues a proposal for the next entry; resolves once that entry is applied here (or not). */
  propose(proposal: Proposal, timeoutMs: number): Promise<ItemOutcome> {
    return this.proposeMapped(proposal, timeoutMs, itemOutcome);
  }

  /** `propose`, resolving with what `map` makes of the outcome (see `OutcomeMap`). */
  proposeMapped<T>(proposal: Proposal, timeoutMs: number, map: OutcomeMap<T>): Promise<T> {
    const bytes = proposalBytes(proposal);
    const p = new Promise<T>((resolve) => {
      this.#queue.push({
        proposal,
        bytes,
        timeoutMs,
        resolve: resolve as (o: unknown) => void,
        map,
      });
    });
    this.#driver.wake();
    return p;
  }

  /** Proposes everything queued, as few entries as the bounds allow (the driver calls this). */
  flush(): void {
    if (this.#queue.length === 0) return;
    const queue = this.#queue;
    this.#queue = [];
    let from = 0;
    for (let i = 1; i <= queue.length; i++) {
      if (i < queue.length && queue[i].timeoutMs === queue[from].timeoutMs) continue;
      for (const run of splitRuns(queue.slice(from, i), this.#bounds)) this.#proposeRun(run);
      from = i;
    }
  }

  #proposeRun(run: readonly Waiting[]): void {
    const stamp = this.#clock.stampNow();
    const data = encodeEntry(stamp, run);
    const own = this.#own;
    own?.proposed(data, ownEntry(stamp, run));
    this.counters.entries++;
    this.counters.proposals += run.length;
    this.#driver.propose(data, run[0].timeoutMs).then((out) => {
      own?.settled();
      if (!out.ok) {
        for (const w of run) w.resolve(w.map(out, undefined));
        return;
      }
      // A batch answers one result per proposal; a lone proposal (or a batch refused whole,
      // which cannot be decoded) answers one result for all.
      const batch = out.result instanceof BatchResults ? out.result.results : undefined;
      for (let i = 0; i < run.length; i++) {
        run[i].resolve(run[i].map(out, batch ? batch[i] : out.result));
      }
    });
  }
}
