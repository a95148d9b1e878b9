/**
 * The invariants of the driver simulation, checked from outside the driver: through its public
 * API (`status()`, proposal and read outcomes) and what the application applied. Ground truth
 * survives crashes: the leader of each term, and what was applied first at each index.
 *
 * @module
 */

import {
  applyConfChange,
  type ConfChange,
  type ConfState,
  type Message,
  type NodeId,
  type RaftStatus,
  type Snapshot,
} from "../../../cluster/raft/mod.ts";
import { type DiskImage, imageLastIndex } from "./driver_disk.ts";
import type { Violation } from "../core/invariants.ts";

interface AppliedRecord {
  readonly data: Uint8Array;
  readonly result: unknown;
  readonly digest: string;
  readonly by: string;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameResult(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return sameBytes(a, b);
  return a === b || (typeof a === "object" && typeof b === "object"); // objects: not compared
}

/** The checks of the driver simulation and the violations they found. */
export class DriverChecker {
  readonly violations: Violation[] = [];
  step = 0;
  readonly leaderOf = new Map<number, NodeId>();
  /** State machine safety: what the application applied first at each index. */
  readonly applied = new Map<number, AppliedRecord>();
  /** Per node incarnation (`id#n`): the last commit seen and the last index applied. */
  readonly #commit = new Map<string, number>();
  readonly #appIndex = new Map<string, number>();

  fail(invariant: string, message: string): void {
    this.violations.push({ invariant, step: this.step, message });
  }

  /** Election safety (§5.2) and status sanity, per observed status. */
  observe(who: string, id: NodeId, st: RaftStatus): void {
    if (st.role === "leader") {
      const prev = this.leaderOf.get(st.term);
      if (prev === undefined) this.leaderOf.set(st.term, id);
      else if (prev !== id) {
        this.fail("election_safety", `term ${st.term} has leaders ${prev} and ${id}`);
      }
    }
    const prev = this.#commit.get(who) ?? 0;
    if (st.commit < prev) {
      this.fail("commit_monotonic", `${who} commit went back from ${prev} to ${st.commit}`);
    }
    this.#commit.set(who, st.commit);
    if (!(st.applied <= st.commit && st.commit <= st.lastIndex)) {
      this.fail(
        "status_order",
        `${who} reports applied ${st.applied} commit ${st.commit} last ${st.lastIndex}`,
      );
    }
  }

  /**
   * State machine safety (§5.4.3): every node applies the same data at an index, reaching the
   * same state, and one incarnation applies indexes in increasing order.
   */
  onApply(who: string, index: number, data: Uint8Array, result: unknown, digest: string): void {
    const last = this.#appIndex.get(who) ?? 0;
    if (index <= last) this.fail("apply_order", `${who} applied ${index} after ${last}`);
    this.#appIndex.set(who, index);
    const rec = this.applied.get(index);
    if (rec === undefined) {
      this.applied.set(index, { data, result, digest, by: who });
      return;
    }
    if (!sameBytes(rec.data, data)) {
      this.fail("state_machine_safety", `${who} applied other data at ${index} than ${rec.by}`);
    } else if (rec.digest !== digest || !sameResult(rec.result, result)) {
      this.fail(
        "state_machine_safety",
        `${who} reached state ${digest} after ${index}, ${rec.by} reached ${rec.digest}`,
      );
    }
  }

  /**
   * An entry is applied on a node only once it is durable there (`applied <= durable`): the
   * node's durable log holds the same data at `index` (an index its durable log no longer holds
   * was compacted behind a saved snapshot, checked elsewhere). Or, on a leader that applies
   * ahead of its own write (`RawNode.applyAheadIndex`), once a majority of `votersNow()` (its
   * membership) holds it durably: `disk` looks up each node's durable image.
   */
  onApplyDurable(
    who: string,
    d: DiskImage,
    index: number,
    data: Uint8Array,
    votersNow: () => readonly NodeId[],
    disk: (id: NodeId) => DiskImage | undefined,
  ): void {
    if (index < d.first) return;
    const held = index <= imageLastIndex(d) ? d.entries[index - d.first] : undefined;
    if (held !== undefined && sameBytes(held.data, data)) return;
    const voters = votersNow();
    const holders = voters.filter((v) => {
      const img = disk(v);
      return img !== undefined && holds(img, index, data);
    });
    if (holders.length > voters.length / 2) return;
    this.fail(
      "apply_durable",
      `${who} applied ${index} but its durable log holds ${
        held === undefined ? "no entry" : "other data"
      } there (${d.first}..${imageLastIndex(d)}), and only [${holders}] of the voters ` +
        `[${voters}] hold it durably`,
    );
  }

  /**
   * The persistence contract at the port boundary (docs/reliability.md item 1): an append is acknowledged
   * only once the fake disk made it durable, a vote granted only once term and vote are durable.
   * An acknowledgement of an older term than the durable one may trail a truncation (see
   * FINDINGS.md, "judged not a bug"), so only current-term acks are held to it.
   */
  onSend(who: string, d: DiskImage, m: Message): void {
    const hs = d.hard ?? { term: 0, vote: "", commit: 0 };
    if (m.type === "append_resp" && !m.reject && hs.term <= m.term) {
      const snapIndex = d.snap?.meta.index ?? 0;
      const held = m.index <= snapIndex || (m.index >= d.first && m.index <= imageLastIndex(d));
      if (!held) {
        this.fail(
          "ack_durable",
          `${who} acknowledged index ${m.index} to ${m.to}, but its durable log holds ` +
            `${d.first}..${imageLastIndex(d)} (snapshot ${snapIndex})`,
        );
      }
    } else if (m.type === "vote_resp" && !m.reject) {
      if (hs.term < m.term || (hs.term === m.term && hs.vote !== m.to)) {
        this.fail(
          "ack_durable",
          `${who} granted its term ${m.term} vote to ${m.to}, but its durable hard state is ` +
            `term ${hs.term} vote ${hs.vote || "none"}`,
        );
      }
    }
  }

  /** The highest append acknowledged by each node since its last start, with its term. */
  readonly #acked = new Map<NodeId, { index: number; term: number }>();

  /** Records an append acknowledgement as it leaves `id` (for `onCrash`). */
  noteAck(id: NodeId, m: Message): void {
    if (m.type !== "append_resp" || m.reject) return;
    const prev = this.#acked.get(id);
    if (
      prev === undefined || m.term > prev.term || (m.term === prev.term && m.index > prev.index)
    ) {
      this.#acked.set(id, { index: m.index, term: m.term });
    }
  }

  /**
   * After a crash, what `id` acknowledged in its durable term must still be on its disk: the
   * leader counted it toward a commit (Raft §5.3 "entries are durable before responding"). Only a
   * leader of a later term may remove it, and then the durable term moved on: in the hard state,
   * or in the log alone when the crash fell between a Ready's entries and its hard state (the
   * persist order; nothing of that Ready was answered yet), its last entry then of a later term.
   */
  onCrash(id: NodeId, d: DiskImage): void {
    const a = this.#acked.get(id);
    this.#acked.delete(id);
    const hs = d.hard ?? { term: 0, vote: "", commit: 0 };
    const logTerm = d.entries.at(-1)?.term ?? 0;
    if (a === undefined || Math.max(hs.term, logTerm) > a.term) return;
    const snapIndex = d.snap?.meta.index ?? 0;
    if (a.index <= snapIndex || (a.index >= d.first && a.index <= imageLastIndex(d))) return;
    this.fail(
      "acked_entries_lost",
      `${id} acknowledged index ${a.index} in term ${a.term}, but after a crash its disk holds ` +
        `${d.first}..${imageLastIndex(d)} (snapshot ${snapIndex}, durable term ${hs.term})`,
    );
  }
}

/** Whether a durable image holds `data` at `index` (in its log, or behind its snapshot). */
function holds(img: DiskImage, index: number, data: Uint8Array): boolean {
  if (index <= (img.snap?.meta.index ?? 0)) return true;
  if (index < img.first || index > imageLastIndex(img)) return false;
  return sameBytes(img.entries[index - img.first].data, data);
}

function confKey(c: ConfState): string {
  return `${[...c.voters].sort()}|${[...c.learners].sort()}`;
}

/**
 * Each node's membership by applied index, followed from outside: from the durable snapshot it
 * starts on, the `membership_changed` events of the entries it applies and the snapshots it
 * restores. A snapshot the node saves at an index it has applied must hold the membership as of
 * that index (Raft §7); a leader's snapshot for an index not applied here is not judged.
 */
export class ConfHistory {
  readonly #byNode = new Map<NodeId, { index: number; conf: ConfState }[]>();

  onStart(n: { id: NodeId; disk: { durable: { snap: Snapshot | undefined } } }): void {
    const snap = n.disk.durable.snap;
    this.#byNode.set(n.id, [{
      index: snap?.meta.index ?? 0,
      conf: snap?.meta.conf ?? { voters: [], learners: [] },
    }]);
  }

  onEvent(
    n: { id: NodeId; disk: { written: { snap: Snapshot | undefined } } },
    event: string,
    details: Record<string, unknown>,
  ): void {
    const h = this.#byNode.get(n.id);
    if (h === undefined) return;
    if (event === "membership_changed") {
      const cc = details as unknown as ConfChange & { index: number };
      h.push({ index: cc.index, conf: applyConfChange(h[h.length - 1].conf, cc) });
    } else if (event === "snapshot_restored") {
      const snap = n.disk.written.snap;
      if (snap !== undefined && snap.meta.index === details.index) {
        h.push({ index: snap.meta.index, conf: snap.meta.conf });
      }
    }
  }

  onSnapshotSave(
    n: { id: NodeId; incarnation: number },
    applied: number,
    snap: Snapshot,
    checker: DriverChecker,
  ): void {
    const h = this.#byNode.get(n.id);
    if (h === undefined) return;
    let at: ConfState | undefined;
    for (const x of h) if (x.index <= snap.meta.index) at = x.conf;
    const last = h[h.length - 1].index;
    if (at === undefined || snap.meta.index < h[0].index) return;
    // Beyond the last change seen, only judged when the node applied that far.
    if (snap.meta.index > last && snap.meta.index > applied) return;
    if (confKey(at) !== confKey(snap.meta.conf)) {
      checker.fail(
        "snapshot_conf",
        `${n.id}#${n.incarnation} saved a snapshot at ${snap.meta.index} with membership ` +
          `${confKey(snap.meta.conf)}, but the membership there is ${confKey(at)}`,
      );
    }
  }
}
