/**
 * Bounded elections under partial partitions (docs/reliability.md item 5). In a bridge or one-way
 * partition, some nodes stop hearing the leader while a majority still does. Without pre-vote
 * (dissertation §9.6) the cut-off nodes time out, raise their term and, through the bridge or the
 * working direction of a link, depose a healthy leader again and again; without check-quorum's
 * lease (§6.2) the majority grants them votes. With both, the term stays put.
 *
 * The check counts steps at which the highest term among running nodes rises while a leader is
 * mutually connected to a majority of its voters, during a bridge or one-way
 * partition, outside storms and the settling time after a crash, restart, transfer, membership
 * change or pause (those cause legitimate elections). A window may have at most
 * `ELECTIONS_PER_WINDOW_MAX` such rises.
 *
 * @module
 */

import type { NodeId } from "../../../cluster/raft/mod.ts";
import type { Checker } from "./invariants.ts";
import type { NemesisNode } from "./nemesis.ts";
import type { Network } from "../network.ts";

/** Term rises allowed per partition window while a connected majority holds a leader. */
export const ELECTIONS_PER_WINDOW_MAX = 1;

/** What the check needs from the cluster. */
export interface ElectionView {
  readonly nodes: ReadonlyMap<NodeId, NemesisNode>;
  readonly network: Network;
  isActive(n: NemesisNode): boolean;
}

/** Counts term rises in partial-partition windows; see the module comment. */
export class ElectionBound {
  readonly stats = { windows: 0, stepsWatched: 0, rises: 0 };
  #window: { shape: string; start: number; rises: number } | undefined;
  /** No counting before this step (a disruption settles first). */
  #settleUntil = -1;
  readonly #settleSteps: number;
  readonly #checker: Checker;

  constructor(checker: Checker, settleSteps: number) {
    this.#checker = checker;
    this.#settleSteps = settleSteps;
  }

  /** A bridge or one-way partition starts (other shapes end any window). */
  onPartition(shape: "halves" | "one_way" | "bridge" | "isolate", step: number): void {
    this.#window = shape === "one_way" || shape === "bridge"
      ? { shape, start: step, rises: 0 }
      : undefined;
    if (this.#window) this.stats.windows++;
  }

  onHeal(): void {
    this.#window = undefined;
  }

  /** A fault that causes a legitimate election (crash, restart, transfer, conf change, pause). */
  onDisruption(step: number): void {
    this.#settleUntil = Math.max(this.#settleUntil, step + this.#settleSteps);
  }

  /**
   * Before the step's deliveries and ticks: the current highest term if some leader is mutually
   * connected to a majority of its voters, else undefined (nothing to count). The leader's own
   * term may be below the highest: a cut-off node that raised its term is what is counted.
   */
  before(view: ElectionView, step: number, storm: boolean): number | undefined {
    if (this.#window === undefined || storm || step < this.#settleUntil) return undefined;
    const maxTerm = highestTerm(view);
    for (const n of view.nodes.values()) {
      if (!n.up || !view.isActive(n)) continue;
      const st = n.status();
      if (st.role !== "leader") continue;
      const connected = st.conf.voters.filter((v) => {
        const p = view.nodes.get(v);
        if (p === undefined || !p.up || !view.isActive(p)) return false;
        return v === n.id || (!view.network.isCut(n.id, v) && !view.network.isCut(v, n.id));
      });
      if (connected.length * 2 > st.conf.voters.length) {
        this.stats.stepsWatched++;
        return maxTerm;
      }
    }
    return undefined;
  }

  /** After the step: a rise of the highest term since `before` counts against the window. */
  after(view: ElectionView, step: number, before: number | undefined): void {
    if (before === undefined || this.#window === undefined) return;
    const now = highestTerm(view);
    if (now <= before) return;
    this.stats.rises++;
    this.#window.rises++;
    if (this.#window.rises > ELECTIONS_PER_WINDOW_MAX) {
      this.#checker.fail(
        "bounded_elections",
        `the term rose ${this.#window.rises} times (to ${now} at step ${step}) during the ` +
          `${this.#window.shape} partition from step ${this.#window.start}, while a leader ` +
          `held a connected majority (pre-vote and check-quorum should keep it put)`,
      );
    }
  }
}

function highestTerm(view: ElectionView): number {
  let t = 0;
  for (const n of view.nodes.values()) if (n.up) t = Math.max(t, n.status().term);
  return t;
}
