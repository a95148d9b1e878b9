/**
 * Where a simulated client sends its next call: the node it takes for the leader, most of the
 * time, else any node that is up. The three workloads (RawNode, driver, broker) share it, so
 * they draw from their random source the same way.
 *
 * @module
 */

import type { NodeId } from "../../cluster/raft/mod.ts";
import type { Prng } from "./prng.ts";

/** The node a client takes for the leader (a `not_leader` answer's hint, or its last pick). */
export class LeaderGuess {
  id: NodeId = "";

  /**
   * The guessed leader 9 times in 10 while it is up; else a node that is up, at random, which
   * becomes the guess. Undefined when no node is up.
   */
  pick<N extends { readonly id: NodeId; readonly up: boolean }>(
    nodes: ReadonlyMap<NodeId, N>,
    prng: Prng,
  ): N | undefined {
    const guess = nodes.get(this.id);
    if (guess !== undefined && guess.up && prng.chance(0.9)) return guess;
    const up = [...nodes.values()].filter((n) => n.up);
    if (up.length === 0) return undefined;
    const pick = prng.pick(up);
    this.id = pick.id;
    return pick;
  }
}
