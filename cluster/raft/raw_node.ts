/**
 * `RawNode`: the driver's handle on the Raft core, with the Ready/advance bookkeeping
 * (etcd's rawnode.go). At most one Ready is outstanding: `ready()` may not be called again until
 * `advance()` was called for the previous one (`hasReady()` is false meanwhile); `step`, `tick`,
 * `propose`, ... may be called at any time in between.
 *
 * Persistence contract (see `Ready` in types.ts):
 * - `messages` never depend on this node's persistence: appends and heartbeats to followers,
 *   (pre-)vote requests, pre-vote answers, heartbeat answers, snapshot chunk acks, read-index
 *   traffic, timeout_now.
 * - `messagesAfterPersist` hold everything that promises durability: vote answers (term and vote
 *   durable) and append answers (entries durable).
 * - The leader counts itself toward commit only up to `stable`, which moves in `advance()`.
 * - `committedEntries` only holds entries that are durable once step 2 of the Ready is done: it
 *   may include entries of the same Ready's `entries`, never later ones, because
 *   `committed <= lastIndex` and every entry up to `lastIndex` is either stable or in `entries`.
 * - The candidate's own vote: see raft.ts.
 *
 * @module
 */

import { encodeConfChange, validateConfChange } from "./conf_change.ts";
import {
  bcastAppend,
  commitMoved,
  leaderAppend,
  leaderReadIndex,
  leaderTransfer,
} from "./leader.ts";
import { DEFAULTS, Raft } from "./raft.ts";
import type { PeerProgress, RaftStatus } from "./status.ts";
import {
  type ConfChange,
  EntryKind,
  type HardState,
  type InitialState,
  type Message,
  NO_NODE,
  type NodeId,
  type ProposeResult,
  type RaftConfig,
  type Ready,
  type Role,
  type SoftState,
  type StoredSnapshot,
} from "./types.ts";

const encoder = new TextEncoder();

export class RawNode {
  private readonly r: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private outstanding: Ready | undefined;

  constructor(config: RaftConfig, initial: InitialState) {
    this.r = new Raft(config, initial);
    this.prevSoft = { leaderId: this.r.lead, role: this.r.role };
    this.prevHard = initial.hardState;
  }

  /** One logical clock tick (elections, heartbeats, check-quorum, transfer timeout). */
  tick(): void {
    this.r.tick();
  }

  /** A message from the network; fenced by cluster id and membership. */
  step(m: Message): void {
    this.r.step(m);
  }

  /** Leader only: appends `data`; it is sent and persisted with the next Ready. */
  propose(data: Uint8Array): ProposeResult {
    const r = this.r;
    if (r.role !== "leader") return { ok: false, reason: "not_leader", leaderId: r.lead };
    if (r.leadTransferee !== NO_NODE) return { ok: false, reason: "transfer_in_progress" };
    const index = leaderAppend(r, EntryKind.Normal, data);
    return { ok: true, index, term: r.term };
  }

  /**
   * Leader only: a single-server membership change (dissertation §4.1, see conf_change.ts). Refused
   * with `conf_change_pending` until the leader committed an entry of its term and applied every
   * earlier conf change; `promote` is refused (`invalid_conf_change`) for a learner more than
   * `DEFAULTS.promoteMaxLagEntries` behind the leader's last index or not yet replicating.
   */
  proposeConfChange(cc: ConfChange): ProposeResult {
    const r = this.r;
    if (r.role !== "leader") return { ok: false, reason: "not_leader", leaderId: r.lead };
    if (r.leadTransferee !== NO_NODE) return { ok: false, reason: "transfer_in_progress" };
    // The 2015 raft-dev fix: no conf change before an entry of this term is committed.
    if (r.log.term(r.log.committed) !== r.term) return { ok: false, reason: "conf_change_pending" };
    if (r.pendingConfIndex > r.log.applied) return { ok: false, reason: "conf_change_pending" };
    const detail = validateConfChange(r.conf, cc);
    if (detail !== undefined) return { ok: false, reason: "invalid_conf_change", detail };
    if (cc.op === "promote") {
      const pr = r.progress.get(cc.nodeId);
      const lag = r.log.lastIndex() - (pr?.match ?? 0);
      if (pr === undefined || pr.state !== "replicate" || lag > DEFAULTS.promoteMaxLagEntries) {
        return {
          ok: false,
          reason: "invalid_conf_change",
          detail: `Cannot promote ${cc.nodeId}: it is ${lag} entries behind (not caught up)`,
        };
      }
    }
    const index = leaderAppend(r, EntryKind.ConfChange, encodeConfChange(cc));
    return { ok: true, index, term: r.term };
  }

  /**
   * Requests a linearizable read (§6.4). The answer arrives in a later `Ready.readStates` with the
   * same context, or never (leadership lost, no leader known): the caller times out.
   */
  readIndex(context: Uint8Array): void {
    const r = this.r;
    if (r.role === "leader") leaderReadIndex(r, r.id, context);
    else if (r.role === "follower" && r.lead !== NO_NODE) {
      r.send({ type: "read_index", to: r.lead, context });
    }
  }

  /**
   * Leader: transfer leadership to `to` or to the most up-to-date voter (§3.10); proposals are
   * refused until it completes or an election timeout passes. Follower: asks the leader with
   * `transfer_leader` (answer `index` 0). A target that is not a voter, or no other voter, is
   * reported as `invalid_conf_change` with the detail.
   */
  transferLeadership(to?: NodeId): ProposeResult {
    const r = this.r;
    if (r.role !== "leader") {
      if (r.role !== "follower" || r.lead === NO_NODE) {
        return { ok: false, reason: "not_leader", leaderId: r.lead };
      }
      r.send({ type: "transfer_leader", to: r.lead, context: encoder.encode(to ?? "") });
      return { ok: true, index: 0, term: r.term };
    }
    const out = leaderTransfer(r, to);
    if (out.ok) return { ok: true, index: r.log.lastIndex(), term: r.term };
    if (out.reason === "transfer_in_progress") return { ok: false, reason: out.reason };
    return { ok: false, reason: "invalid_conf_change", detail: out.detail };
  }

  /**
   * Leader with `deferCommitNotice`: whether the commit moved since followers were last told it
   * (the driver then calls `sendCommit` after a short while unless an append carried it).
   */
  get commitUnsent(): boolean {
    return this.r.commitUnsent && this.r.role === "leader";
  }

  /** Leader: sends a commit `deferCommitNotice` held back, with the next Ready. */
  sendCommit(): void {
    const r = this.r;
    if (r.role === "leader" && r.commitUnsent) r.needBroadcast = true;
  }

  /** Sends batched proposals / commit updates and read heartbeats (one append per follower). */
  private flush(): void {
    const r = this.r;
    if (r.role !== "leader") return;
    if (r.needBroadcast) {
      r.needBroadcast = false;
      bcastAppend(r);
    }
    if (r.needReadHeartbeat) {
      r.needReadHeartbeat = false;
      r.bcastHeartbeat(r.readOnly.lastContext());
    }
  }

  private softState(): SoftState {
    return { leaderId: this.r.lead, role: this.r.role };
  }

  private hardState(): HardState {
    return { term: this.r.term, vote: this.r.vote, commit: this.r.log.committed };
  }

  hasReady(): boolean {
    if (this.outstanding !== undefined) return false;
    const r = this.r;
    const log = r.log;
    const soft = this.softState();
    const hard = this.hardState();
    return r.needBroadcast || r.needReadHeartbeat || r.msgs.length > 0 ||
      r.msgsAfterPersist.length > 0 || r.readStates.length > 0 ||
      soft.leaderId !== this.prevSoft.leaderId || soft.role !== this.prevSoft.role ||
      !sameHard(hard, this.prevHard) || log.unstableSnapshot !== undefined ||
      log.stable < log.lastIndex() || log.committed > Math.max(log.applied, log.snapshotIndex);
  }

  /**
   * The heartbeats and heartbeat answers the next Ready would carry in `messages`, taken out of it
   * now (the other messages keep their place and order there). They depend on no persistence, so
   * the driver may send them while a Ready's persist is still running (a follower saving a large
   * snapshot, a slow fsync): a node that stops answering for that long is taken for dead
   * (check-quorum, election timeouts). A heartbeat carries only a commit its receiver has matched,
   * so one that overtakes an append is harmless.
   */
  takeHeartbeats(): Message[] {
    const r = this.r;
    if (!r.msgs.some(isHeartbeat)) return [];
    const out = r.msgs.filter(isHeartbeat);
    r.msgs = r.msgs.filter((m) => !isHeartbeat(m));
    return out;
  }

  /** What to send, persist and apply now; see `Ready` in types.ts. */
  ready(): Ready {
    if (this.outstanding !== undefined) {
      throw new Error("Cannot make a Ready: the previous one was not advanced");
    }
    this.flush();
    const r = this.r;
    const soft = this.softState();
    const hard = this.hardState();
    const rd: Ready = {
      ...(soft.leaderId !== this.prevSoft.leaderId || soft.role !== this.prevSoft.role
        ? { softState: soft }
        : {}),
      ...(sameHard(hard, this.prevHard) ? {} : { hardState: hard }),
      ...(r.log.unstableSnapshot ? { snapshot: r.log.unstableSnapshot } : {}),
      entries: r.log.unstableEntries(),
      committedEntries: r.log.nextCommittedEntries(),
      messages: r.msgs,
      messagesAfterPersist: r.msgsAfterPersist,
      readStates: r.readStates,
    };
    r.msgs = [];
    r.msgsAfterPersist = [];
    r.readStates = [];
    this.prevSoft = soft;
    this.prevHard = hard;
    this.outstanding = rd;
    return rd;
  }

  /** The driver persisted, sent and applied `rd`. */
  advance(rd: Ready): void {
    if (rd !== this.outstanding) throw new Error("Cannot advance: not the outstanding Ready");
    this.outstanding = undefined;
    const r = this.r;
    const log = r.log;
    if (rd.snapshot !== undefined) {
      if (log.unstableSnapshot === rd.snapshot) log.unstableSnapshot = undefined;
      log.applied = Math.max(log.applied, rd.snapshot.meta.index);
    }
    // The driver persisted all of rd.entries, but a newer leader may have replaced a suffix of
    // them meanwhile: the persisted prefix that is still in the log becomes stable.
    for (let k = rd.entries.length - 1; k >= 0; k--) {
      const e = rd.entries[k];
      if (log.matchTerm(e.index, e.term)) {
        log.stableTo(e.index, e.term);
        break;
      }
    }
    if (rd.hardState !== undefined && rd.hardState.term === r.term && rd.hardState.vote === r.id) {
      r.selfVoteDurable();
    }
    if (r.role === "leader") {
      const self = r.progress.get(r.id);
      if (self !== undefined && log.stable > self.match) {
        self.match = log.stable;
        if (r.maybeCommit()) commitMoved(r);
      }
    }
    for (const e of rd.committedEntries) {
      // A leader's snapshot stepped in after this Ready was made already holds the membership
      // as of its index (§7): re-applying an older change on top of it would revive a removed
      // member (simulator finding #5).
      if (e.kind === EntryKind.ConfChange && e.index > log.snapshotIndex) r.applyConfEntry(e.data);
      log.appliedTo(e.index);
    }
  }

  /**
   * The application took `snapshot` at `snapshot.meta.index` (<= applied): drop the log behind it
   * and keep the snapshot for followers that are too far behind (§7).
   */
  compact(snapshot: StoredSnapshot): void {
    this.r.log.compact(snapshot);
  }

  /** This node's role now (cheaper than `status()`). */
  get role(): Role {
    return this.r.role;
  }

  status(): RaftStatus {
    const r = this.r;
    const progress: Record<NodeId, PeerProgress> = {};
    if (r.role === "leader") {
      for (const [id, pr] of r.progress) {
        progress[id] = {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          recentActive: pr.recentActive,
          isLearner: pr.isLearner,
        };
      }
    }
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      role: r.role,
      leaderId: r.lead,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      firstIndex: r.log.firstIndex(),
      stableIndex: r.log.stable,
      logBytesHeld: r.log.bytesHeld,
      conf: { voters: [...r.conf.voters], learners: [...r.conf.learners] },
      progress,
      pendingConfIndex: r.pendingConfIndex,
      leadTransferee: r.leadTransferee,
      dropped: { ...r.dropped },
    };
  }
}

function isHeartbeat(m: Message): boolean {
  return m.type === "heartbeat" || m.type === "heartbeat_resp";
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
