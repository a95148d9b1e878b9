/**
 * An in-process, single-node `NodePort` for tests of the HTTP layer: proposals are decoded and
 * applied straight to a real `BrokerState` (no Raft, no disk). `mode` switches the node into the
 * failure answers the driver can give (`not_leader`, `unknown_outcome`, `no_leader`), so tests can
 * drive forwarding and error paths on demand.
 *
 * @module
 */

import {
  BrokerState,
  decodeEnvelope,
  encodeEnvelope,
  EntryClock,
  type Proposal,
} from "../../broker/mod.ts";
import type {
  AdminOutcome,
  BrokerView,
  ClusterView,
  LeaderHint,
  MemberView,
  NodeMetrics,
  NodePort,
  ProposeOutcome,
  ReadBarrierOutcome,
} from "../node_port.ts";
import { Histogram } from "../prometheus.ts";

/** How the local node answers proposals and read barriers. */
export type LocalMode =
  /** Apply and answer (a healthy leader). */
  | { readonly kind: "leader" }
  /** Refuse as a follower that knows the leader (and maybe its URL). */
  | { readonly kind: "follower"; readonly leaderId: string; readonly leaderUrl?: string }
  /** Refuse: no leader known. */
  | { readonly kind: "no_leader" }
  /**
   * Answer `unknown_outcome`; with `apply: true` the command is applied first (accepted by
   * Raft, then leadership lost before the answer), otherwise it is dropped.
   */
  | { readonly kind: "unknown_outcome"; readonly apply: boolean };

export interface LocalNodeOptions {
  readonly nodeId?: string;
  readonly url?: string;
  readonly mode?: LocalMode;
  /** Other members as the leader would see them (for `GET /v1/cluster`); default none. */
  readonly peers?: readonly MemberView[];
  /** The monotonic clock its entry time counts on; default `performance.now`. */
  readonly monoNowMs?: () => number;
  /** The wall clock its first entry time is taken from; default `Date.now`. */
  readonly wallNowMs?: () => number;
}

/** The local node: a `NodePort` plus test controls. */
export class LocalNode implements NodePort {
  readonly nodeId: string;
  readonly url: string;
  readonly state = new BrokerState();
  mode: LocalMode;
  /** Every envelope proposed (encoded, as the entry would carry it), including refused ones. */
  readonly proposals: Uint8Array[] = [];
  /** Entry time as a real node keeps it (the real clocks, unless `monoNowMs` is given). */
  readonly clock: EntryClock;
  readonly #listeners = new Set<() => void>();
  #index = 0;
  #term = 1;
  #leaderChanges = 0;
  readonly #members: MemberView[];
  readonly #fsync = new Histogram([0.001, 0.01]);

  constructor(options: LocalNodeOptions = {}) {
    this.nodeId = options.nodeId ?? "n1";
    this.url = options.url ?? "http://127.0.0.1:0";
    this.mode = options.mode ?? { kind: "leader" };
    this.clock = new EntryClock({
      monoNowMs: options.monoNowMs ?? (() => performance.now()),
      wallNowMs: options.wallNowMs ?? Date.now,
      lastEntryTs: () => this.state.lastTs,
    });
    this.#members = [
      { id: this.nodeId, url: this.url, role: "leader", matchIndex: 0 },
      ...options.peers ?? [],
    ];
  }

  /** Switches the answer mode (a leader change, as far as this node can tell). */
  setMode(mode: LocalMode): void {
    this.mode = mode;
    this.#leaderChanges++;
    this.#term++;
  }

  leaderToAsk(): LeaderHint | undefined {
    const mode = this.mode;
    if (mode.kind === "no_leader") return {};
    if (mode.kind !== "follower") return undefined;
    return mode.leaderUrl === undefined
      ? { leaderId: mode.leaderId }
      : { leaderId: mode.leaderId, leaderUrl: mode.leaderUrl };
  }

  propose(proposal: Proposal, _opts: { timeoutMs: number }): Promise<ProposeOutcome> {
    const envelope = encodeEnvelope(this.clock.stamp(proposal));
    this.proposals.push(envelope);
    const mode = this.mode;
    switch (mode.kind) {
      case "leader":
        return Promise.resolve({ ok: true, result: this.#apply(envelope) });
      case "follower":
        return Promise.resolve({
          ok: false,
          reason: "not_leader",
          leaderId: mode.leaderId,
          ...(mode.leaderUrl !== undefined ? { leaderUrl: mode.leaderUrl } : {}),
        });
      case "no_leader":
        return Promise.resolve({ ok: false, reason: "no_leader" });
      case "unknown_outcome":
        if (mode.apply) this.#apply(envelope);
        return Promise.resolve({ ok: false, reason: "unknown_outcome" });
    }
  }

  /** Applies an envelope as the next entry and wakes the listeners (like an applied batch). */
  #apply(envelope: Uint8Array): unknown {
    this.#index++;
    const result = this.state.apply(this.#index, decodeEnvelope(envelope));
    this.clock.observe();
    this.#fsync.observe(0.0005);
    this.notifyApplied();
    return result;
  }

  /** Wakes the `onApplied` listeners, as a node does after each applied batch. */
  notifyApplied(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  readBarrier(_opts: { timeoutMs: number }): Promise<ReadBarrierOutcome> {
    const mode = this.mode;
    switch (mode.kind) {
      case "leader":
      case "follower": // A follower does ReadIndex through Raft: here the state is shared.
        return Promise.resolve({ ok: true });
      case "no_leader":
        return Promise.resolve({ ok: false, reason: "no_leader" });
      case "unknown_outcome":
        return Promise.resolve({ ok: false, reason: "timeout" });
    }
  }

  broker(): BrokerView {
    return this.state;
  }

  entryTimeMs(): number {
    return this.clock.now();
  }

  onApplied(listener: () => void): () => void {
    const wrapped = () => listener();
    this.#listeners.add(wrapped);
    return () => this.#listeners.delete(wrapped);
  }

  /** Listeners registered now (tests check that long polls unsubscribe). */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  clusterView(): ClusterView {
    const mode = this.mode;
    const leaderId = mode.kind === "leader"
      ? this.nodeId
      : mode.kind === "follower"
      ? mode.leaderId
      : "";
    return {
      nodeId: this.nodeId,
      leaderId,
      term: this.#term,
      commitIndex: this.#index,
      appliedIndex: this.#index,
      members: this.#members.map((m) =>
        m.id === this.nodeId
          ? { ...m, role: mode.kind === "leader" ? "leader" : "follower", matchIndex: this.#index }
          : m
      ),
    };
  }

  addMember(id: string, url: string): Promise<AdminOutcome> {
    const refused = this.#adminRefusal();
    if (refused) return Promise.resolve(refused);
    if (this.#members.some((m) => m.id === id)) {
      return Promise.resolve({ ok: false, reason: "rejected", detail: `${id} is a member` });
    }
    this.#members.push({ id, url, role: "learner", matchIndex: 0 });
    return Promise.resolve({ ok: true });
  }

  removeMember(id: string): Promise<AdminOutcome> {
    const refused = this.#adminRefusal();
    if (refused) return Promise.resolve(refused);
    const i = this.#members.findIndex((m) => m.id === id);
    if (i === -1) {
      return Promise.resolve({ ok: false, reason: "rejected", detail: `${id} not a member` });
    }
    this.#members.splice(i, 1);
    return Promise.resolve({ ok: true });
  }

  transferLeadership(to?: string): Promise<AdminOutcome> {
    const refused = this.#adminRefusal();
    if (refused) return Promise.resolve(refused);
    if (to !== undefined && !this.#members.some((m) => m.id === to)) {
      return Promise.resolve({ ok: false, reason: "rejected", detail: `${to} not a member` });
    }
    return Promise.resolve({ ok: true });
  }

  #adminRefusal(): AdminOutcome | undefined {
    const mode = this.mode;
    switch (mode.kind) {
      case "leader":
        return undefined;
      case "follower":
        return {
          ok: false,
          reason: "not_leader",
          leaderId: mode.leaderId,
          ...(mode.leaderUrl !== undefined ? { leaderUrl: mode.leaderUrl } : {}),
        };
      case "no_leader":
        return { ok: false, reason: "no_leader" };
      case "unknown_outcome":
        return { ok: false, reason: "unknown_outcome" };
    }
  }

  metrics(): NodeMetrics {
    return {
      term: this.#term,
      commitIndex: this.#index,
      appliedIndex: this.#index,
      leaderChanges: this.#leaderChanges,
      elections: 0,
      fsyncSeconds: this.#fsync.snapshot(),
    };
  }
}
