/**
 * The Raft state machine of one node: terms, roles, elections (with pre-vote and check-quorum),
 * and the dispatch of messages to the role step functions in `leader.ts` and `follower.ts`.
 * Pure and synchronous: outgoing messages are queued in `msgs` / `msgsAfterPersist` and handed to
 * the driver by `RawNode.ready()`.
 *
 * Persistence rule for a candidate's own vote: the vote requests go out in `messages`, before the
 * candidate's new term and self-vote are durable, but the candidate counts its own vote only in
 * `advance()` of the Ready whose `hardState` carried that term and vote (`selfVoteDurable`). A
 * candidate that crashes before persisting therefore never counted a vote it might later cast for
 * someone else in the same term; the votes of others are durable on their side before they answer.
 *
 * @module
 */

import { Progress } from "./progress.ts";
import { applyConfChange, decodeConfChange, isMember } from "./conf_change.ts";
import { RaftLog } from "./log.ts";
import { ReadOnly } from "./read_only.ts";
import { hasQuorum, voteResult } from "./quorum.ts";
import { leaderHeartbeats, maybeCommitLeader, stepLeader } from "./leader.ts";
import { stepCandidate, stepFollower } from "./follower.ts";
import type { IncomingSnapshot } from "./follower.ts";
import {
  type ConfChange,
  type ConfState,
  EntryKind,
  type InitialState,
  type Message,
  NO_NODE,
  type NodeId,
  type RaftConfig,
  type ReadState,
  type Role,
} from "./types.ts";

/** Vote requests sent on `timeout_now` carry this context so voters skip the lease check (§3.10). */
export const TRANSFER_CONTEXT: Uint8Array = new TextEncoder().encode("transfer");

/** Defaults for the optional `RaftConfig` fields. */
export const DEFAULTS = {
  maxInflightMessages: 256,
  maxAppendBytes: 1024 * 1024,
  /**
   * Most bytes of entries in flight to one follower: a follower far behind is sent its entries a
   * window at a time, not `maxInflightMessages` appends of `maxAppendBytes` (256 MiB) at once.
   */
  maxInflightBytes: 8 * 1024 * 1024,
  snapshotChunkBytes: 1024 * 1024,
  /** A learner this many entries behind the leader's last index cannot be promoted. */
  promoteMaxLagEntries: 1024,
  logCacheBytes: 32 * 1024 * 1024,
} as const;

/** The fields every message has; `send` fills in the rest. */
export type MessageFields = Partial<Message> & Pick<Message, "type" | "to">;

function isTransfer(ctx: Uint8Array | undefined): boolean {
  if (ctx === undefined || ctx.length !== TRANSFER_CONTEXT.length) return false;
  return ctx.every((b, i) => b === TRANSFER_CONTEXT[i]);
}

export class Raft {
  readonly id: NodeId;
  readonly config: RaftConfig;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxInflight: number;
  readonly maxInflightBytes: number;
  readonly maxAppendBytes: number;
  readonly snapshotChunkBytes: number;

  term: number;
  vote: NodeId;
  lead: NodeId = NO_NODE;
  role: Role = "follower";
  readonly log: RaftLog;
  conf: ConfState;
  /** Leader only: one entry per member, this node included. */
  progress = new Map<NodeId, Progress>();
  votes = new Map<NodeId, boolean>();
  /** Candidate: its own vote is durable and counted. */
  selfVoteCounted = false;

  msgs: Message[] = [];
  msgsAfterPersist: Message[] = [];
  readStates: ReadState[] = [];

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;

  leadTransferee: NodeId = NO_NODE;
  pendingConfIndex = 0;
  readOnly = new ReadOnly();
  /** Leader: read requests that wait for the first commit of this term (§6.4 step 1). */
  pendingReads: { from: NodeId; context: Uint8Array }[] = [];
  /** Leader: proposals or a commit change to send to followers at the next `ready()`. */
  needBroadcast = false;
  /** Leader (`deferCommitNotice`): the commit moved since followers were last told it. */
  commitUnsent = false;
  /** Leader: a read request needs a heartbeat round at the next `ready()`. */
  needReadHeartbeat = false;
  /** Follower: the InstallSnapshot being assembled from chunks. */
  incoming: IncomingSnapshot | undefined;

  dropped = { clusterMismatch: 0, nonMember: 0, misaddressed: 0 };

  constructor(config: RaftConfig, initial: InitialState) {
    if (config.electionTicks <= config.heartbeatTicks || config.heartbeatTicks < 1) {
      throw new Error(
        `Cannot create a Raft node: electionTicks (${config.electionTicks}) must exceed heartbeatTicks (${config.heartbeatTicks}) >= 1`,
      );
    }
    this.id = config.id;
    this.config = config;
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.maxInflight = config.maxInflightMessages ?? DEFAULTS.maxInflightMessages;
    this.maxInflightBytes = config.maxInflightBytes ?? DEFAULTS.maxInflightBytes;
    this.maxAppendBytes = config.maxAppendBytes ?? DEFAULTS.maxAppendBytes;
    this.snapshotChunkBytes = config.snapshotChunkBytes ?? DEFAULTS.snapshotChunkBytes;
    if (this.snapshotChunkBytes < 1) {
      throw new Error("Cannot create a Raft node: snapshotChunkBytes < 1");
    }
    const reader = initial.entryReader;
    const cache = reader && { reader, bytes: config.logCacheBytes ?? DEFAULTS.logCacheBytes };
    this.log = new RaftLog(initial.snapshot, initial.entries, initial.hardState.commit, cache);
    this.term = initial.hardState.term;
    this.vote = initial.hardState.vote;
    this.conf = initial.snapshot?.meta.conf ?? initial.bootstrapConf;
    this.becomeFollower(this.term, NO_NODE);
  }

  // ---- helpers ------------------------------------------------------------------------------

  isVoter(id: NodeId): boolean {
    return this.conf.voters.includes(id);
  }

  /** May this node campaign? Only voters (§4.2.1: learners never start elections). */
  promotable(): boolean {
    return this.isVoter(this.id);
  }

  /** Queues a message; `afterPersist` ones wait until the Ready's state is durable. */
  send(f: MessageFields, afterPersist = false): void {
    const m: Message = {
      clusterId: this.config.clusterId,
      from: this.id,
      term: this.term,
      logTerm: 0,
      index: 0,
      commit: 0,
      ...f,
    };
    (afterPersist ? this.msgsAfterPersist : this.msgs).push(m);
  }

  private resetRandomizedElectionTimeout(): void {
    const n = this.config.electionTicks;
    const r = this.config.random();
    if (!(r >= 0 && r < 1)) throw new Error(`Cannot draw an election timeout: random() gave ${r}`);
    this.randomizedElectionTimeout = n + Math.floor(r * n);
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NO_NODE;
    }
    this.lead = NO_NODE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = NO_NODE;
    this.votes = new Map();
    this.selfVoteCounted = false;
    this.progress = new Map();
    this.readOnly.reset();
    this.pendingReads = [];
    this.needBroadcast = false;
    this.commitUnsent = false;
    this.needReadHeartbeat = false;
  }

  // ---- roles --------------------------------------------------------------------------------

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.role = "follower";
    this.lead = lead;
  }

  becomePreCandidate(): void {
    if (this.role === "leader") throw new Error("Cannot become pre-candidate: this node leads");
    // Pre-vote (dissertation §9.6) changes neither term nor vote: nothing to persist.
    this.votes = new Map();
    this.role = "pre_candidate";
    this.lead = NO_NODE;
  }

  becomeCandidate(): void {
    if (this.role === "leader") throw new Error("Cannot become candidate: this node leads");
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
  }

  becomeLeader(): void {
    if (this.role === "follower") throw new Error("Cannot become leader from follower");
    this.reset(this.term);
    this.role = "leader";
    this.lead = this.id;
    const last = this.log.lastIndex();
    for (const id of [...this.conf.voters, ...this.conf.learners]) {
      const pr = new Progress(last + 1, this.maxInflight, !this.isVoter(id), this.maxInflightBytes);
      if (id === this.id) {
        // The leader counts itself only for what it has persisted (see RawNode.advance).
        pr.match = this.log.stable;
        pr.becomeReplicate();
        pr.next = last + 1;
      }
      pr.recentActive = true;
      this.progress.set(id, pr);
    }
    // Membership: no conf change until everything up to the election is applied (§4.1).
    this.pendingConfIndex = last;
    // Raft §5.4.2 / §8: commit an entry of the new term (a no-op) before older ones count.
    this.log.append([{
      term: this.term,
      index: last + 1,
      kind: EntryKind.Normal,
      data: new Uint8Array(),
    }]);
    this.needBroadcast = true;
  }

  // ---- elections ----------------------------------------------------------------------------

  /**
   * Starts an election. `prevote`: a pre-vote round (§9.6); `vote`: a real election (after a
   * won pre-vote, or with pre-vote off); `transfer`: on timeout_now (§3.10), skipping pre-vote and
   * flagged so that voters bypass their leader lease.
   */
  campaign(kind: "prevote" | "vote" | "transfer"): void {
    if (!this.promotable()) return;
    // A committed conf change not yet applied may change who votes: wait for it (etcd does too).
    if (this.log.someUnapplied((e) => e.kind === EntryKind.ConfChange)) return;
    const transfer = kind === "transfer";
    if (kind === "prevote") {
      this.becomePreCandidate();
      this.votes.set(this.id, true);
      this.sendVoteRequests("prevote", this.term + 1, undefined);
    } else {
      this.becomeCandidate();
      // Our own vote counts once it is durable: see the module comment and RawNode.advance.
      this.sendVoteRequests("vote", this.term, transfer ? TRANSFER_CONTEXT : undefined);
    }
    this.pollVotes();
  }

  private sendVoteRequests(type: "prevote" | "vote", term: number, ctx: Uint8Array | undefined) {
    for (const id of this.conf.voters) {
      if (id === this.id) continue;
      this.send({
        type,
        to: id,
        term,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        ...(ctx ? { context: ctx } : {}),
      });
    }
  }

  /** The candidate's term and self-vote are now durable: count the vote. */
  selfVoteDurable(): void {
    if (this.role !== "candidate" || this.vote !== this.id || this.selfVoteCounted) return;
    this.selfVoteCounted = true;
    this.votes.set(this.id, true);
    this.pollVotes();
  }

  pollVotes(): void {
    if (this.role !== "candidate" && this.role !== "pre_candidate") return;
    switch (voteResult(this.conf.voters, this.votes)) {
      case "won":
        if (this.role === "pre_candidate") this.campaign("vote");
        else this.becomeLeader();
        return;
      case "lost":
        this.becomeFollower(this.term, NO_NODE);
        return;
      case "pending":
        return;
    }
  }

  // ---- time ---------------------------------------------------------------------------------

  tick(): void {
    if (this.role === "leader") this.tickLeader();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(this.preVote ? "prevote" : "vote");
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      // Check-quorum (dissertation §6.2): a leader cut off from a majority steps down.
      if (this.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, NO_NODE);
        return;
      }
      // §3.10: a transfer that did not finish within an election timeout is abandoned.
      this.leadTransferee = NO_NODE;
    }
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.lastContext(), true);
    }
  }

  private quorumActive(): boolean {
    const ok = hasQuorum(this.conf.voters, (id) => {
      return id === this.id || (this.progress.get(id)?.recentActive ?? false);
    });
    for (const [id, pr] of this.progress) if (id !== this.id) pr.recentActive = false;
    return ok;
  }

  /** Heartbeats to every follower; on the tick not to those in step (leader.ts). */
  bcastHeartbeat(ctx: Uint8Array | undefined, skipInStep = false): void {
    leaderHeartbeats(this, ctx, skipInStep);
  }

  // ---- messages -----------------------------------------------------------------------------

  /** Fencing: drops messages of another cluster, for another node, or from a non-member. */
  private accept(m: Message): boolean {
    if (m.clusterId !== this.config.clusterId) {
      this.dropped.clusterMismatch++;
      return false;
    }
    if (m.to !== this.id) {
      this.dropped.misaddressed++;
      return false;
    }
    if (isMember(this.conf, m.from)) return true;
    // Leader traffic is taken from any node of the cluster: our configuration may be behind
    // the leader's (a joining node, or a member that has not applied a change yet, e.g. a leader
    // added after it last caught up); dropping it would strand us forever. This cannot disrupt
    // anyone: a node leads a term only if a majority elected it, and elections (vote, prevote)
    // and everything else from non-members are dropped.
    if (m.type === "append" || m.type === "heartbeat" || m.type === "snapshot") return true;
    this.dropped.nonMember++;
    return false;
  }

  step(m: Message): void {
    if (!this.accept(m)) return;
    if (m.term > this.term) {
      if (!this.stepHigherTerm(m)) return;
    } else if (m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    switch (m.type) {
      case "prevote":
      case "vote":
        this.handleVoteRequest(m);
        return;
      default:
        break;
    }
    switch (this.role) {
      case "leader":
        stepLeader(this, m);
        return;
      case "candidate":
      case "pre_candidate":
        stepCandidate(this, m);
        return;
      case "follower":
        stepFollower(this, m);
        return;
    }
  }

  /** Returns false when the message is to be ignored. */
  private stepHigherTerm(m: Message): boolean {
    if (m.type === "prevote" || m.type === "vote") {
      // Leader lease (§6 "disruptive servers"): while we hear from a live leader, ignore
      // elections, unless the leader itself asked for this one (transfer).
      const inLease = this.checkQuorum && this.lead !== NO_NODE &&
        this.electionElapsed < this.config.electionTicks;
      if (inLease && !isTransfer(m.context)) return false;
    }
    if (m.type === "prevote") return true; // a pre-vote never changes our term
    if (m.type === "prevote_resp" && !m.reject) return true; // the term we would campaign at
    const fromLeader = m.type === "append" || m.type === "heartbeat" || m.type === "snapshot";
    this.becomeFollower(m.term, fromLeader ? m.from : NO_NODE);
    return true;
  }

  private stepLowerTerm(m: Message): void {
    if ((this.checkQuorum || this.preVote) && (m.type === "heartbeat" || m.type === "append")) {
      // A stale leader (e.g. after a partition healed) learns our term and steps down; without
      // this, pre-vote could leave it stranded forever.
      this.send({ type: "append_resp", to: m.from }, true);
    } else if (m.type === "prevote") {
      this.send({ type: "prevote_resp", to: m.from, reject: true });
    }
  }

  private handleVoteRequest(m: Message): void {
    const isPre = m.type === "prevote";
    const canVote = this.vote === m.from ||
      (this.vote === NO_NODE && this.lead === NO_NODE) ||
      (isPre && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // A granted vote is durable before it leaves (messagesAfterPersist). Pre-votes change
      // nothing, so they go at once.
      if (isPre) {
        this.send({ type: "prevote_resp", to: m.from, term: m.term });
      } else {
        this.electionElapsed = 0;
        this.vote = m.from;
        this.send({ type: "vote_resp", to: m.from, term: m.term }, true);
      }
    } else if (isPre) {
      this.send({ type: "prevote_resp", to: m.from, reject: true });
    } else {
      this.send({ type: "vote_resp", to: m.from, reject: true }, true);
    }
  }

  // ---- membership ---------------------------------------------------------------------------

  /** Applies a committed conf change entry (called from `advance()`, see conf_change.ts). */
  applyConfEntry(data: Uint8Array): void {
    const cc: ConfChange = decodeConfChange(data);
    this.conf = applyConfChange(this.conf, cc);
    if (this.role !== "leader") return;
    const member = isMember(this.conf, cc.nodeId);
    if (!member) {
      this.progress.delete(cc.nodeId);
      if (this.leadTransferee === cc.nodeId) this.leadTransferee = NO_NODE;
    } else {
      let pr = this.progress.get(cc.nodeId);
      if (pr === undefined) {
        pr = new Progress(this.log.lastIndex() + 1, this.maxInflight, true, this.maxInflightBytes);
        pr.recentActive = true;
        this.progress.set(cc.nodeId, pr);
      }
      pr.isLearner = !this.isVoter(cc.nodeId);
    }
    if (!this.isVoter(this.id)) {
      // A removed (or demoted) leader steps down once the change is committed and applied.
      this.becomeFollower(this.term, NO_NODE);
      return;
    }
    if (this.maybeCommit()) this.needBroadcast = true;
  }

  /** Leader: advances the commit index by the majority rule of §5.3 and §5.4.2. */
  maybeCommit(): boolean {
    return maybeCommitLeader(this);
  }
}
