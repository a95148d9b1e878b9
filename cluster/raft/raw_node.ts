/**
 * `RawNode`: the driver's handle on the Raft core, with the Ready/advance bookkeeping
 * (etcd's rawnode.go). At most one Ready is outstanding: `ready()` may not be called again until
 * `advance()` was called for the previous one (`hasReady()` is false meanwhile); `step`, `tick`,
 * `propose`, ... may be called at any time in between, and so may `takeMessages` and
 * `takeCommittedStable`, which hand out early what needs no persist of the outstanding Ready.
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
 *   The commit may pass `stable` on a leader too (enough followers answered before its own fsync
 *   ended), never `lastIndex`; so the hard state's commit is durable-backed once step 2 is done.
 * - While a Ready's persist runs: `takeMessages` hands out the messages made since (a leader's
 *   appends of entries proposed meanwhile among them: those entries stay unstable until the next
 *   Ready persists them), `takeCommittedStable` the committed entries up to `stable` (durable
 *   before this Ready). Entries of `entries` of the outstanding Ready, or proposed meanwhile,
 *   are handed out for applying only by a later Ready, after their persist (on a leader, see
 *   the next item).
 * - A leader may apply more (`applyAheadIndex`, `takeCommittedAhead`; dissertation §10.2.1,
 *   etcd's asynchronous storage writes): every committed entry, even one its own write still
 *   runs for. Its commit passes `stable` only by a majority of followers that hold the entries
 *   durably (it counts itself only up to `stable`), so they are committed whatever becomes of
 *   its own write; a one-node cluster never commits beyond `stable`. Not past a membership
 *   change that is not stable here: the core applies a change in `advance()`, and the
 *   membership a node applied must be rebuilt from its own disk on restart (hard_state_policy.ts
 *   in cluster/node).
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
  type Entry,
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
  /** What `takeCommittedStable` handed out since the outstanding Ready (applied at `advance`). */
  private taken: Entry[] = [];

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
   * refused until it completes or an election timeout passes; while the target is caught up and
   * has not campaigned, each heartbeat answer brings it timeout_now again. A request naming the
   * same target, or none, joins a transfer under way; naming another is `transfer_in_progress`.
   * Follower: asks the leader with `transfer_leader` (answer `index` 0). A target that is not a
   * voter, or no other voter, is reported as `invalid_conf_change` with the detail.
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
   * While a Ready is outstanding (its persist running): every message that may leave now, taken
   * out of the next Ready's `messages`. First the leader's pending sends are made: the appends of
   * entries proposed since the Ready was made (they stay unstable and are persisted by the next
   * Ready, in order) and commit or read heartbeats. None of these depend on this node's
   * persistence (see `Ready.messages`), so the driver sends them at once instead of after the
   * persist: followers write a leader's new entries while the leader's own fsync still runs
   * (etcd's asynchronous storage writes), and a node saving a large snapshot or waiting on a slow
   * fsync still answers heartbeats (a node silent that long is taken for dead). What waits for
   * the persist stays in `msgsAfterPersist` for the next Ready.
   */
  takeMessages(): Message[] {
    this.flush();
    const r = this.r;
    if (r.msgs.length === 0) return [];
    const out = r.msgs;
    r.msgs = [];
    return out;
  }

  /**
   * While a Ready is outstanding: committed entries that are already stable here (persisted by
   * an advanced Ready and still in the log), after those the outstanding Ready and earlier calls
   * handed out. A leader's commit moves when followers answer while the leader's fsync of newer
   * entries runs: the entries it commits were durable here before, so they may be applied now
   * instead of after that fsync. The core counts them applied (and applies membership changes
   * among them) at the next `advance()`, after the outstanding Ready's own committed entries.
   * Empty while a snapshot is to be restored first, or with no Ready outstanding (`ready()`
   * hands them out then).
   */
  takeCommittedStable(): Entry[] {
    return this.takeCommittedTo(Math.min(this.r.log.committed, this.r.log.stable));
  }

  /**
   * As `takeCommittedStable`, up to `applyAheadIndex`: on a leader also the entries a majority of
   * followers committed while its own write of them still runs (the outstanding Ready's, or
   * proposed meanwhile), so a proposal applies with the commit instead of after both the commit
   * and the leader's fsync.
   */
  takeCommittedAhead(): Entry[] {
    return this.takeCommittedTo(this.applyAheadIndex);
  }

  /**
   * The last committed index whose entry may be applied before any further persist here: the
   * stable ones (`min(commit, stable)`); on a leader every committed one, up to the first
   * membership change that is not stable here (see the module comment). A driver applies the
   * committed entries of a Ready up to it before that Ready's persist, in log order.
   */
  get applyAheadIndex(): number {
    const r = this.r;
    const log = r.log;
    const stableCommitted = Math.min(log.committed, log.stable);
    if (r.role !== "leader" || log.unstableSnapshot !== undefined) return stableCommitted;
    // Bounded by the commit; entries after `stable` are held in memory (`LogCache` lets go of
    // stable ones only).
    for (let i = stableCommitted + 1; i <= log.committed; i++) {
      if (log.entry(i).kind === EntryKind.ConfChange) return i - 1;
    }
    return log.committed;
  }

  private takeCommittedTo(to: number): Entry[] {
    const rd = this.outstanding;
    const log = this.r.log;
    if (rd === undefined || rd.snapshot !== undefined || log.unstableSnapshot !== undefined) {
      return [];
    }
    const from = Math.max(this.handedOut(), log.applied, log.snapshotIndex) + 1;
    if (to < from) return [];
    const out = log.slice(from, to + 1);
    for (const e of out) this.taken.push(e);
    return out;
  }

  /** Whether a follower voter holds every entry this leader has (nothing in flight to it). */
  get followerCaughtUp(): boolean {
    const r = this.r;
    if (r.role !== "leader") return false;
    const last = r.log.lastIndex();
    for (const [id, pr] of r.progress) {
      if (id !== r.id && !pr.isLearner && pr.state === "replicate" && pr.match >= last) return true;
    }
    return false;
  }

  /** The last committed entry handed out by the outstanding Ready or `takeCommittedStable`. */
  private handedOut(): number {
    const rd = this.outstanding;
    const ce = rd?.committedEntries;
    const last = ce !== undefined && ce.length > 0 ? ce[ce.length - 1].index : 0;
    const taken = this.taken.length > 0 ? this.taken[this.taken.length - 1].index : 0;
    return Math.max(last, taken);
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
    const taken = this.taken;
    this.taken = [];
    for (const e of taken.length > 0 ? [...rd.committedEntries, ...taken] : rd.committedEntries) {
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

  /**
   * The last index known durable here and still in the log (`status().stableIndex`, cheaper):
   * entries up to it were persisted by an advanced Ready and not replaced since.
   */
  get stableIndex(): number {
    return this.r.log.stable;
  }

  /** The index of the last membership change proposed or applied (cheaper than `status()`). */
  get pendingConfIndex(): number {
    return this.r.pendingConfIndex;
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

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
