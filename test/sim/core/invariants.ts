/**
 * The safety checks, run as the simulator goes. Each is named after the property it guards
 * (Raft paper Figure 3 and §5.4) and records a violation with a message that says what was seen.
 * Ground truth is global and survives crashes: what any node ever applied at an index, which node
 * led which term, and each leader's log at the time it was elected.
 *
 * @module
 */

import type { Entry, Message, NodeId, Snapshot } from "../../../cluster/raft/mod.ts";
import { type DiskState, type DiskWrite, termAt } from "../disk.ts";
import type { SimNode } from "./sim_node.ts";

/** A broken invariant: which one, at which step, and what was seen. */
export interface Violation {
  readonly invariant: string;
  readonly step: number;
  readonly message: string;
}

interface AppliedRecord {
  readonly term: number;
  readonly data: Uint8Array;
  /** The application digest right after applying this index. */
  readonly digest: string;
  /** An upper bound of the term in which the entry was committed. */
  readonly commitTerm: number;
  readonly by: NodeId;
}

interface ElectionLog {
  readonly term: number;
  readonly leader: NodeId;
  /** Entries after `snapIndex` and before `noopIndex`, as terms: terms[i - snapIndex - 1]. */
  readonly snapIndex: number;
  readonly noopIndex: number;
  readonly terms: number[];
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Collects the checks' ground truth and the violations found. */
export class Checker {
  readonly violations: Violation[] = [];
  step = 0;
  /** Election safety: the leader of each term. */
  readonly leaderOf = new Map<number, NodeId>();
  /** State machine safety: what was applied at each index, by whoever applied it first. */
  readonly applied: (AppliedRecord | undefined)[] = [];
  /** Log matching: per index, per term, the entry's data and the term before it. */
  readonly #seen = new Map<number, Map<number, { data: Uint8Array; prevTerm: number }>>();
  readonly #elections: ElectionLog[] = [];
  readonly #captured = new Set<number>();
  /** The lowest term seen with commit >= index (commitTermOf[index]). */
  readonly #commitTermOf: number[] = [];
  #commitObserved = 0;
  readonly #lastCommit = new Map<NodeId, number>();

  /** The last commit index observed on `id`. */
  lastCommitOf(id: NodeId): number {
    return this.#lastCommit.get(id) ?? 0;
  }

  fail(invariant: string, message: string): void {
    this.violations.push({ invariant, step: this.step, message });
  }

  /** Election safety (§5.2): at most one leader per term. */
  observeLeader(term: number, id: NodeId): void {
    const prev = this.leaderOf.get(term);
    if (prev === undefined) this.leaderOf.set(term, id);
    else if (prev !== id) {
      this.fail("election_safety", `term ${term} has two leaders: ${prev} and ${id}`);
    }
  }

  /** Commit never moves back on a node, nor below the durable commit it restarted from. */
  observeCommit(node: SimNode, commit: number, term: number): void {
    const prev = this.#lastCommit.get(node.id) ?? 0;
    if (commit < prev) {
      this.fail("commit_monotonic", `${node.id} commit went back from ${prev} to ${commit}`);
    }
    this.#lastCommit.set(node.id, commit);
    while (this.#commitObserved < commit) this.#commitTermOf[++this.#commitObserved] = term;
  }

  /** A node restarted: its commit may not be below the durable hard state's. */
  observeRestart(node: SimNode, commit: number): void {
    if (commit < node.startCommit) {
      this.fail(
        "commit_monotonic",
        `${node.id} restarted with commit ${commit} below its durable commit ${node.startCommit}`,
      );
    }
    this.#lastCommit.set(node.id, commit);
  }

  /**
   * A Ready was written on `node`, whose current term is `term`. Checks leader append-only
   * (§5.3: a leader never overwrites or deletes entries of its own term while in that term) and
   * its follower counterpart (no node removes an entry of the term it is in), log
   * matching (§5.3: same index and term ⇒ same entry and same preceding term), and captures a new
   * leader's log when its first own-term entry (the no-op) is written, for leader completeness.
   */
  onWrite(node: SimNode, w: DiskWrite, removed: readonly Entry[], term: number): void {
    for (const e of removed) {
      if (e.term !== term) continue;
      if (this.leaderOf.get(term) === node.id) {
        this.fail(
          "leader_append_only",
          `${node.id}, leader of term ${term}, removed its own entry ${e.index}/${e.term}`,
        );
      } else {
        // Entries of the current term all come from its one leader, so they never conflict
        // with that leader's appends: removing one means a stale or reordered append truncated
        // the log (docs/reliability.md item 8).
        this.fail(
          "no_truncation_in_term",
          `${node.id} removed entry ${e.index}/${e.term} while in term ${term}`,
        );
      }
    }
    const log = node.disk.written;
    for (const e of w.entries) {
      if (termAt(log, e.index) !== e.term) continue; // covered by a snapshot
      this.#checkMatching(node.id, e, termAt(log, e.index - 1) ?? -1);
    }
    for (const e of w.entries) {
      if (this.leaderOf.get(e.term) === node.id && !this.#captured.has(e.term)) {
        this.#captured.add(e.term);
        this.#captureElection(node.id, e.term, e.index, log);
        break;
      }
    }
  }

  #checkMatching(id: NodeId, e: Entry, prevTerm: number): void {
    let byTerm = this.#seen.get(e.index);
    if (byTerm === undefined) {
      byTerm = new Map();
      this.#seen.set(e.index, byTerm);
    }
    const prev = byTerm.get(e.term);
    if (prev === undefined) {
      byTerm.set(e.term, { data: e.data, prevTerm });
      return;
    }
    if (!sameBytes(prev.data, e.data)) {
      this.fail("log_matching", `${id} has entry ${e.index}/${e.term} with other data than before`);
    } else if (prevTerm !== -1 && prev.prevTerm !== -1 && prev.prevTerm !== prevTerm) {
      this.fail(
        "log_matching",
        `${id} has entry ${e.index}/${e.term} after term ${prevTerm}; another log had it after ${prev.prevTerm}`,
      );
    }
  }

  #captureElection(leader: NodeId, term: number, noopIndex: number, log: DiskState): void {
    const snapIndex = log.snapshot?.meta.index ?? 0;
    const terms: number[] = [];
    for (let i = snapIndex + 1; i < noopIndex; i++) terms.push(termAt(log, i) ?? -1);
    const el: ElectionLog = { term, leader, snapIndex, noopIndex, terms };
    this.#elections.push(el);
    for (let i = 1; i < this.applied.length; i++) {
      const a = this.applied[i];
      if (a !== undefined && a.commitTerm < term) this.#checkCompleteness(el, i, a);
    }
  }

  /** Leader completeness (§5.4): an entry committed in term c is in every leader of a term > c. */
  #checkCompleteness(el: ElectionLog, index: number, a: AppliedRecord): void {
    if (index <= el.snapIndex) return; // in the leader's snapshot; its digest is checked on restore
    const t = index < el.noopIndex ? el.terms[index - el.snapIndex - 1] : undefined;
    if (t !== a.term) {
      this.fail(
        "leader_completeness",
        `${el.leader}, elected in term ${el.term}, lacks entry ${index}/${a.term} committed by ` +
          `term ${a.commitTerm} (its log has ${t === undefined ? "nothing" : `term ${t}`} there)`,
      );
    }
  }

  /** State machine safety (§5.4.3): no two nodes apply different entries at one index. */
  onApply(node: SimNode, e: Entry, nodeTerm: number): void {
    const digest = node.app.digest();
    const a = this.applied[e.index];
    if (a === undefined) {
      const commitTerm = Math.min(this.#commitTermOf[e.index] ?? Infinity, nodeTerm);
      const rec = { term: e.term, data: e.data, digest, commitTerm, by: node.id };
      this.applied[e.index] = rec;
      for (const el of this.#elections) {
        if (el.term > commitTerm) this.#checkCompleteness(el, e.index, rec);
      }
      return;
    }
    if (a.term !== e.term || !sameBytes(a.data, e.data)) {
      this.fail(
        "state_machine_safety",
        `${node.id} applied ${e.index}/${e.term} but ${a.by} applied ${e.index}/${a.term} there`,
      );
    } else if (a.digest !== digest) {
      this.fail(
        "state_machine_safety",
        `${node.id} state after ${e.index} is ${digest}, ${a.by} had ${a.digest}`,
      );
    }
  }

  /** A restored snapshot must equal the state every node had at its index. */
  onRestore(node: SimNode, snap: Snapshot): void {
    const a = this.applied[snap.meta.index];
    if (a === undefined) return;
    const digest = node.app.digest();
    if (a.term !== snap.meta.term || a.digest !== digest) {
      this.fail(
        "snapshot_safety",
        `${node.id} restored snapshot ${snap.meta.index}/${snap.meta.term} with state ${digest}; ` +
          `${a.by} applied ${snap.meta.index}/${a.term} reaching ${a.digest}`,
      );
    }
  }

  /**
   * The persistence contract (docs/reliability.md item 1): an append is acknowledged only once the entries
   * are durable, and a vote is granted only once the term and vote are durable. Checked as the
   * message leaves the node.
   */
  onSend(node: SimNode, m: Message): void {
    const d = node.disk.durable;
    if (m.type === "append_resp" && !m.reject) {
      const snapIndex = d.snapshot?.meta.index ?? 0;
      // An ack queued in term t can leave after a leader of a later term truncated the entries
      // it covers (etcd's Ready loop does the same). It was true when the append was accepted,
      // and the truncation proves the entries cannot be committed in t (§5.4.3 argument), so only
      // acks of the node's durable current term are held to the rule.
      const stale = d.hardState.term > m.term;
      if (!stale && m.index > snapIndex && termAt(d, m.index) === undefined) {
        this.fail(
          "ack_durable",
          `${node.id} acknowledged index ${m.index} to ${m.to}, but its durable log ends at ` +
            `${d.entries.length > 0 ? d.entries[d.entries.length - 1].index : snapIndex}`,
        );
      }
    } else if (m.type === "vote_resp" && !m.reject) {
      const hs = d.hardState;
      if (hs.term < m.term || (hs.term === m.term && hs.vote !== m.to)) {
        this.fail(
          "ack_durable",
          `${node.id} granted its term ${m.term} vote to ${m.to}, but its durable hard state is ` +
            `term ${hs.term} vote ${hs.vote || "none"}`,
        );
      }
    }
  }

  /** The hard state's commit never exceeds the durable log (a restart could not apply it). */
  onSync(node: SimNode): void {
    const d = node.disk.durable;
    const last = d.entries.length > 0
      ? d.entries[d.entries.length - 1].index
      : (d.snapshot?.meta.index ?? 0);
    if (d.hardState.commit > last) {
      this.fail(
        "durable_commit",
        `${node.id} synced hard state commit ${d.hardState.commit} beyond its durable log end ${last}`,
      );
    }
  }
}
