/**
 * The real `NodePort`: the HTTP layer's view of one node, implemented over the Raft node driver
 * and the broker replica it applies to.
 *
 * @module
 */

import type { NodeDriver } from "../../cluster/node/mod.ts";
import { NO_NODE, type RaftStatus } from "../../cluster/raft/mod.ts";
import type { EntryClock, Proposal } from "../broker/mod.ts";
import {
  type AdminOutcome,
  type BrokerView,
  type ClusterView,
  Histogram,
  LATENCY_BUCKETS_S,
  type MemberView,
  type NodeMetrics,
  type NodePort,
  type ProposeOutcome,
  type ReadBarrierOutcome,
} from "../http/mod.ts";
import type { BrokerMachine } from "./broker_machine.ts";
import { type ItemOutcome, ProposalBatcher } from "./proposal_batcher.ts";
import { TICK_MS } from "./raft_settings.ts";
import { awaitTransfer } from "./transfer_outcome.ts";

/** How long a new member may take to catch up before it is promoted to voter. */
const CATCH_UP_MS = 30_000;

/** Retries (50 ms apart) of a membership change refused while another one is pending. */
const PENDING_RETRIES = 40;

/**
 * The longest a leadership transfer with `wait` is watched. Its outcome is known within about two
 * election timeouts (0.5–1 s each): the leader abandons it after one, or the target's election
 * ends; the rest is room for a node whose ticks a busy machine delays.
 */
const TRANSFER_WAIT_MS = 10_000;

export class RaftNode implements NodePort {
  readonly nodeId: string;
  /** fsync latency: the latency buckets, with finer ones below 0.5 ms where disks answer. */
  readonly fsyncSeconds = new Histogram([0.0001, 0.00025, ...LATENCY_BUCKETS_S]);
  #driver: NodeDriver;
  #machine: BrokerMachine;
  #clock: EntryClock;
  #batcher: ProposalBatcher;
  #memoryStorage: boolean;

  #canAddMembers: boolean;
  /** A client's write or read reached this node while it does not lead (`ClientAwareBlocking`). */
  #onFollowerClient: () => void;

  constructor(
    driver: NodeDriver,
    machine: BrokerMachine,
    clock: EntryClock,
    opts: { memoryStorage: boolean; canAddMembers: boolean; onFollowerClient?: () => void },
  ) {
    this.#driver = driver;
    this.#machine = machine;
    this.#clock = clock;
    this.#batcher = new ProposalBatcher(driver, clock, undefined, machine);
    this.nodeId = driver.id;
    this.#memoryStorage = opts.memoryStorage;
    this.#canAddMembers = opts.canAddMembers;
    this.#onFollowerClient = opts.onFollowerClient ?? (() => {});
  }

  #leaderHint(): { leaderId?: string; leaderUrl?: string } {
    const leaderId = this.#driver.status().leaderId;
    if (leaderId === NO_NODE) return {};
    const leaderUrl = this.#driver.urls.get(leaderId);
    return leaderUrl === undefined ? { leaderId } : { leaderId, leaderUrl };
  }

  /** "Ask the leader": `not_leader` with where it is, or `no_leader` when none is known. */
  #notLeader(): { ok: false; reason: "no_leader" } | {
    ok: false;
    reason: "not_leader";
    leaderId: string;
    leaderUrl?: string;
  } {
    const hint = this.#leaderHint();
    return hint.leaderId === undefined
      ? { ok: false, reason: "no_leader" }
      : { ok: false, reason: "not_leader", ...hint, leaderId: hint.leaderId };
  }

  leaderToAsk(): { leaderId?: string; leaderUrl?: string } | undefined {
    if (this.#driver.leading) return undefined;
    this.#onFollowerClient();
    return this.#leaderHint();
  }

  /**
   * Queues the proposal for the next entry (proposal_batcher.ts): the batcher stamps the entry
   * time and proposes in one synchronous step, and the driver accepts a proposal only while this
   * node leads, so only a leader's clock ever reaches an entry. A node that does not lead now
   * answers at once. Not an async function: the batcher resolves each proposer with its
   * `ProposeOutcome` itself (`#outcome`), one promise per write instead of two.
   */
  propose(proposal: Proposal, opts: { timeoutMs: number }): Promise<ProposeOutcome> {
    try {
      if (!this.#driver.leading) {
        this.#onFollowerClient();
        return Promise.resolve(this.#notLeader());
      }
      return this.#batcher.proposeMapped(proposal, opts.timeoutMs, this.#outcome);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  readonly #outcome = (out: ItemOutcome, result: unknown): ProposeOutcome => {
    if (out.ok) return { ok: true, result };
    switch (out.reason) {
      case "not_leader":
        return this.#notLeader();
      // Overwritten by a new leader: it never applied, but the client cannot tell that from a
      // timeout, and the retry with the same id / Idempotency-Key is safe either way.
      case "dropped":
      case "unknown_outcome":
      case "closed":
        return { ok: false, reason: "unknown_outcome" };
    }
  };

  async readBarrier(opts: { timeoutMs: number }): Promise<ReadBarrierOutcome> {
    if (!this.#driver.leading) this.#onFollowerClient();
    const out = await this.#driver.readIndex(opts.timeoutMs);
    if (out.ok) return { ok: true };
    if (out.reason === "no_leader") return { ok: false, reason: "no_leader" };
    return { ok: false, reason: "timeout", ...this.#leaderHint() };
  }

  restoring(): boolean {
    return this.#driver.restoring;
  }

  broker(): BrokerView {
    return this.#machine.state;
  }

  entryTimeMs(): number {
    return this.#clock.now();
  }

  onApplied(listener: () => void): () => void {
    return this.#driver.onApplied(listener);
  }

  clusterView(): ClusterView {
    const s = this.#driver.status();
    const members: MemberView[] = [];
    const add = (id: string, learner: boolean) => {
      const p = s.progress[id];
      const role: MemberView["role"] = id === s.leaderId
        ? "leader"
        : learner
        ? "learner"
        : id === s.id
        ? (s.role === "leader" ? "leader" : s.role)
        : s.leaderId === NO_NODE
        ? "unknown"
        : "follower";
      members.push({
        id,
        url: this.#driver.urls.get(id) ?? "",
        role,
        matchIndex: p?.match ?? (id === s.id ? s.lastIndex : 0),
        ...(p && s.role === "leader" && id !== s.id
          ? { lastContactMs: p.recentActive ? 0 : undefined }
          : {}),
      });
    };
    for (const id of s.conf.voters) add(id, false);
    for (const id of s.conf.learners) add(id, true);
    return {
      nodeId: s.id,
      leaderId: s.leaderId,
      term: s.term,
      commitIndex: s.commit,
      appliedIndex: this.#driver.appliedIndex,
      members,
    };
  }

  /** Adds a learner, waits until it has caught up, then promotes it (dissertation §4.2.1). */
  async addMember(id: string, url: string): Promise<AdminOutcome> {
    if (!this.#canAddMembers) {
      return {
        ok: false,
        reason: "rejected",
        detail: "This node runs without --secret, so no peer could authenticate: restart the " +
          "cluster with a shared --secret before adding members",
      };
    }
    // A retry of an add whose answer was lost continues where the first call stopped: a voter
    // already added is done, a learner already added only needs its promotion.
    const conf = this.#driver.status().conf;
    const known = this.#driver.urls.get(id);
    const isVoter = conf.voters.includes(id);
    const isLearner = conf.learners.includes(id);
    if ((isVoter || isLearner) && known !== undefined && known !== url) {
      return {
        ok: false,
        reason: "rejected",
        detail: `Cannot add ${id} at ${url}: it is already a member at ${known}`,
      };
    }
    if (isVoter) return { ok: true };
    // Everything below acts, which only the leader may: a follower that has not applied the
    // promotion yet must forward the retry, not wait for a catch-up it cannot drive.
    if (this.#driver.status().role !== "leader") return this.#notLeader();
    if (!isLearner) {
      const added = await this.#confChange({ op: "add_learner", nodeId: id, context: url });
      // Refused because a concurrent call (the client's retry) added it first: go on from there.
      if (!added.ok && !(added.reason === "rejected" && this.#memberAt(id, url))) return added;
    }
    const deadline = performance.now() + CATCH_UP_MS;
    while (performance.now() < deadline) {
      const s = this.#driver.status();
      if (s.role !== "leader") return { ok: false, reason: "unknown_outcome" };
      const match = s.progress[id]?.match ?? 0;
      if (match >= s.commit) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const promoted = await this.#confChange({ op: "promote", nodeId: id });
    // Refused because a concurrent call promoted it first: the member is what was asked for.
    if (!promoted.ok && promoted.reason === "rejected" && this.#memberAt(id, url) === "voter") {
      return { ok: true };
    }
    return promoted;
  }

  /** What `id` is in the membership this node has applied, when it is there at `url`. */
  #memberAt(id: string, url: string): "voter" | "learner" | undefined {
    if (this.#driver.urls.get(id) !== url) return undefined;
    const conf = this.#driver.status().conf;
    if (conf.voters.includes(id)) return "voter";
    return conf.learners.includes(id) ? "learner" : undefined;
  }

  removeMember(id: string): Promise<AdminOutcome> {
    return this.#confChange({ op: "remove", nodeId: id });
  }

  async #confChange(
    cc: { op: "add_learner" | "promote" | "remove"; nodeId: string; context?: string },
  ): Promise<AdminOutcome> {
    let out = await this.#driver.proposeConfChange(cc, 10_000);
    // The leader records members' incarnations with conf changes of its own (identity.ts): one
    // may be in flight for a moment; wait for it rather than refuse the operator's change.
    for (
      let i = 0;
      i < PENDING_RETRIES && !out.ok && out.reason === "rejected" &&
      out.detail === "conf_change_pending";
      i++
    ) {
      await new Promise((r) => setTimeout(r, 50));
      out = await this.#driver.proposeConfChange(cc, 10_000);
    }
    if (out.ok) return { ok: true };
    switch (out.reason) {
      case "not_leader":
        return this.#notLeader();
      case "rejected":
        return { ok: false, reason: "rejected", detail: out.detail };
      default:
        return { ok: false, reason: "unknown_outcome" };
    }
  }

  transferLeadership(to?: string, wait = false): Promise<AdminOutcome> {
    const before = this.#driver.status();
    // Only the leader can tell a transfer under way from an abandoned one: a follower forwards.
    if (wait && before.role !== "leader") return Promise.resolve(this.#notLeader());
    const r = this.#driver.transferLeadership(to);
    if (r.ok && wait && to !== before.id) return this.#transferOutcome(before);
    if (r.ok) return Promise.resolve({ ok: true });
    switch (r.reason) {
      case "not_leader":
        return Promise.resolve(this.#notLeader());
      case "invalid_conf_change":
        return Promise.resolve({ ok: false, reason: "rejected", detail: r.detail });
      default:
        return Promise.resolve({ ok: false, reason: "rejected", detail: r.reason });
    }
  }

  async #transferOutcome(before: RaftStatus): Promise<AdminOutcome> {
    const status = () => this.#driver.status();
    const out = await awaitTransfer(status, before, { waitMs: TRANSFER_WAIT_MS, everyMs: TICK_MS });
    switch (out.kind) {
      case "moved":
        return { ok: true };
      case "stayed":
        return { ok: false, reason: "rejected", detail: out.detail };
      case "unknown":
        return { ok: false, reason: "unknown_outcome" };
    }
  }

  metrics(): NodeMetrics {
    const s = this.#driver.status();
    return {
      term: s.term,
      commitIndex: s.commit,
      appliedIndex: this.#driver.appliedIndex,
      leaderChanges: this.#driver.counters.leaderChanges,
      elections: this.#driver.counters.elections,
      proposals: { ...this.#batcher.counters },
      ...(this.#memoryStorage ? {} : { fsyncSeconds: this.fsyncSeconds.snapshot() }),
    };
  }
}
