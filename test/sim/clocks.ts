/**
 * Every simulated node's own clocks: a monotonic clock that starts again from another origin in
 * each process (incarnation), and a wall clock the simulation can jump forward or back, as NTP
 * steps or an operator's `date -s` do. Both advance `MS_PER_STEP` per simulator step.
 *
 * @module
 */

import type { NodeId } from "../../cluster/raft/mod.ts";
import type { EntryClockSources } from "../../src/broker/mod.ts";
import type { Prng } from "./prng.ts";

/** Clock ms per simulator step. */
export const MS_PER_STEP = 10;

/** The wall clock of every node at step 0, before any jump (2027-01-15). */
export const SIM_EPOCH_MS = 1_800_000_000_000;

/** The clocks of one simulated cluster. */
export class SimClocks {
  readonly #wallOffset = new Map<NodeId, number>();

  /** `step` reads the simulator's current step; `prng` draws each process's monotonic origin. */
  constructor(private readonly step: () => number, private readonly prng: Prng) {}

  /** The clocks of a process of node `id` starting now (a new monotonic origin). */
  sources(id: NodeId): Omit<EntryClockSources, "lastEntryTs"> {
    const startStep = this.step();
    const origin = this.prng.int(1_000_000);
    return {
      monoNowMs: () => origin + (this.step() - startStep) * MS_PER_STEP,
      wallNowMs: () => this.wallNowMs(id),
    };
  }

  /** Node `id`'s wall clock now. */
  wallNowMs(id: NodeId): number {
    return SIM_EPOCH_MS + this.step() * MS_PER_STEP + (this.#wallOffset.get(id) ?? 0);
  }

  /** Steps node `id`'s wall clock by `ms` (negative: back). Its monotonic clock is untouched. */
  jumpWall(id: NodeId, ms: number): void {
    this.#wallOffset.set(id, (this.#wallOffset.get(id) ?? 0) + ms);
  }
}
