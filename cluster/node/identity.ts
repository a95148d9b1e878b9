/**
 * Node identity (etcd's rule: a member that lost its data is removed and added again). Every data
 * directory gets a random incarnation id when it is first created (`openStorage`). The cluster
 * records each member's incarnation in the log (`identify` conf changes, and in snapshots), so it
 * survives restarts and every node knows it the same way. Every Raft message carries its sender's
 * incarnation; a leader's also carry the receiver's as the leader has it recorded, once the leader
 * has applied every membership change in its log (so what it says is the committed record, not
 * a lagging one). Then:
 *
 * - a message from a member whose incarnation differs from the recorded one is dropped: its
 *   votes do not count and its acknowledgements do not move a match index, so a node that came
 *   back with an empty (or another) data directory under a known id neither votes nor counts
 *   toward a commit: it may have forgotten a vote or entries it acknowledged;
 * - a node that receives a message addressed to another incarnation of itself drops it; when it
 *   comes from a leader of its own term or a later one, the cluster knows its id with other data:
 *   it stops (`StaleIncarnationError`) and says what to do, instead of taking part. (A lagging
 *   node's word is not enough: a member removed and added again with a new data directory would
 *   be stopped by a node that has not applied its new record yet.)
 *
 * The leader records a member's incarnation the first time it hears it (trust on first use: a
 * brand-new cluster's members are recorded within moments of the first election), and forgets it
 * when the member is removed, so the member can be added again with a new data directory. It
 * records nothing until every member has sent an incarnation: a member running a version that
 * sends none cannot read an `identify` entry (a rolling upgrade).
 *
 * @module
 */

import type { ConfChange, ConfState, Message, NodeId } from "../raft/mod.ts";

/**
 * Thrown (through `onFatal`) by a node whose id the cluster knows with another data directory.
 * The application says how to remove and re-add it.
 */
export class StaleIncarnationError extends Error {
  constructor(
    readonly nodeId: NodeId,
    readonly own: string,
    readonly recorded: string,
    readonly by: NodeId,
  ) {
    super(
      `Node ${nodeId} is known to the cluster with another data directory (incarnation ` +
        `${recorded}, told by ${by}; this one is ${own}): its data was lost or replaced, so it ` +
        `must not vote or count toward commits until it is removed from the membership and ` +
        `added again as a new member.`,
    );
    this.name = "StaleIncarnationError";
  }
}

/** What to do with an incoming message. */
export type Verdict =
  | { readonly kind: "accept" }
  /** From a member whose data directory is not the recorded one: drop it. */
  | { readonly kind: "stale_sender"; readonly recorded: string; readonly got: string }
  /** Addressed to another incarnation of this node: dropped; from a current leader, fatal. */
  | { readonly kind: "stale_self"; readonly recorded: string };

/** The recorded incarnations of the members, and the check of every message. */
export class Identities {
  #recorded = new Map<NodeId, string>();
  /** The incarnation each peer last sent (what the leader records). */
  readonly #seen = new Map<NodeId, string>();

  /** `own`: this node's data-directory incarnation; undefined: identity is off (old tests). */
  constructor(readonly self: NodeId, readonly own: string | undefined) {}

  recorded(id: NodeId): string | undefined {
    return this.#recorded.get(id);
  }

  entries(): [NodeId, string][] {
    return [...this.#recorded.entries()];
  }

  /** Replaces everything (a snapshot's). */
  replace(entries: Iterable<[NodeId, string]>): void {
    this.#recorded = new Map(entries);
  }

  /** Follows an applied conf change: `identify` records, `remove` forgets. */
  applyConfChange(cc: ConfChange): void {
    if (cc.op === "identify" && cc.context) this.#recorded.set(cc.nodeId, cc.context);
    if (cc.op === "remove") {
      this.#recorded.delete(cc.nodeId);
      this.#seen.delete(cc.nodeId);
    }
  }

  /**
   * Adds this node's incarnation to an outgoing message, and with `withTo` (a leader whose
   * membership changes are all applied) the receiver's recorded one.
   */
  stamp(m: Message, withTo: boolean): Message {
    if (this.own === undefined) return m;
    const to = withTo ? this.#recorded.get(m.to) : undefined;
    return to === undefined
      ? { ...m, incarnation: this.own }
      : { ...m, incarnation: this.own, toIncarnation: to };
  }

  /** Checks an incoming message (and notes its sender's incarnation when it is accepted). */
  check(m: Message): Verdict {
    if (this.own === undefined) return { kind: "accept" };
    if (m.toIncarnation !== undefined && m.toIncarnation !== this.own) {
      return { kind: "stale_self", recorded: m.toIncarnation };
    }
    if (m.incarnation === undefined) return { kind: "accept" }; // a sender of an older version
    const recorded = this.#recorded.get(m.from);
    if (recorded !== undefined && recorded !== m.incarnation) {
      return { kind: "stale_sender", recorded, got: m.incarnation };
    }
    this.#seen.set(m.from, m.incarnation);
    return { kind: "accept" };
  }

  /**
   * Leader: the next `identify` to propose for `conf`, if any: a voter not yet recorded, once
   * every member has sent its incarnation.
   */
  toRecord(conf: ConfState): ConfChange | undefined {
    if (this.own === undefined) return undefined;
    const members = [...conf.voters, ...conf.learners];
    const inc = (id: NodeId) => id === this.self ? this.own : this.#seen.get(id);
    if (members.some((id) => inc(id) === undefined)) return undefined;
    // Voters only: a learner is recorded once promoted, so that recording never sits between
    // an operator's add and promote (one conf change at a time).
    const next = conf.voters.find((id) => !this.#recorded.has(id));
    return next === undefined ? undefined : { op: "identify", nodeId: next, context: inc(next) };
  }
}
