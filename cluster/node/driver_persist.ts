/**
 * The driver's persist step of each Ready: snapshot, then entries, then hard state (the order of
 * the Ready contract), and the hard state last saved.
 *
 * @module
 */

import type { HardState, Ready, Role } from "../raft/mod.ts";
import type { NodeDriverOptions } from "./driver_options.ts";
import { hardStateToSave } from "./hard_state_policy.ts";

const BLOCKING = { blocking: true } as const;

/**
 * The default of `NodeDriverOptions.blockingPersist`: a follower persists its entries with a
 * blocking fdatasync, a leader without. A follower's answer to the leader waits for its fsync,
 * and nothing else it does in the round is urgent: a blocking sync saves the hop to a worker
 * thread and back (docs/storage.md, "A follower's fdatasync on its own thread"); heartbeats and
 * messages that arrive meanwhile wait in the socket for one fsync. A leader's never blocks: its
 * followers' answers (which commit without its own fsync), its clients and its heartbeats go on
 * while its fsync runs (a stalled disk must not silence a leader into an election).
 */
export function blockingPersist(role: Role): boolean {
  return role === "follower";
}

/** How long after a client's request a follower's fsyncs stay asynchronous. */
export const CLIENT_QUIET_MS = 1_000;

/**
 * `blockingPersist` for a node that also serves clients: a follower blocks on its fsync only
 * once no client's request has reached it for `quietMs` (`noteClient`), so a follower that
 * serves clients (the writes it forwards, the reads it answers) keeps their requests and answers
 * moving during its fsyncs, as before; one that only replicates saves the hop. The first request
 * after a quiet spell may wait for one fsync.
 */
export class ClientAwareBlocking {
  readonly #quietMs: number;
  readonly #nowMs: () => number;
  #lastClientMs = -Infinity;

  constructor(quietMs = CLIENT_QUIET_MS, nowMs: () => number = () => performance.now()) {
    this.#quietMs = quietMs;
    this.#nowMs = nowMs;
  }

  /** A client's request reached this node while it follows. */
  noteClient(): void {
    this.#lastClientMs = this.#nowMs();
  }

  /** For `NodeDriverOptions.blockingPersist`. */
  readonly blocking = (role: Role): boolean =>
    blockingPersist(role) && this.#nowMs() - this.#lastClientMs >= this.#quietMs;
}

/**
 * A blocking sync slower than this share of the election timeout (100 ms in production) holds
 * the node's answers long enough to matter: should both followers of three stall for a whole
 * election timeout, the leader's check-quorum would see no majority and step down, where
 * asynchronous syncs answer heartbeats meanwhile. After one, syncs stay asynchronous a while.
 */
const SLOW_SYNC_ELECTION_SHARE = 1 / 5;
/** How long a node's syncs stay asynchronous after a slow blocking one. */
export const ASYNC_AFTER_SLOW_SYNC_MS = 10_000;

/** Persists Readies in order and tracks the saved hard state. */
export class ReadyPersister {
  readonly #o: NodeDriverOptions;
  #savedHard: HardState;
  readonly #slowSyncMs: number;
  /** Until when (`nowMs`) appends do not block, after a slow blocking one. */
  #asyncUntilMs = -Infinity;

  constructor(o: NodeDriverOptions, hard: HardState) {
    this.#o = o;
    this.#savedHard = hard;
    this.#slowSyncMs = o.raft.electionTicks * o.tickMs * SLOW_SYNC_ELECTION_SHARE;
  }

  /**
   * Snapshot, then entries, then hard state (the order of the Ready contract), by a node in
   * `role`, whose entries' fdatasync may block the event loop (`blockingPersist`).
   */
  async persist(rd: Ready, role: Role): Promise<void> {
    const { log, hardState, snapshots } = this.#o.storage;
    const t0 = this.#o.nowMs?.() ?? 0;
    if (rd.snapshot) {
      const meta = rd.snapshot.meta;
      await snapshots.save(rd.snapshot);
      // Raft §7: keep the log's suffix only when it holds the snapshot's last entry.
      if (log.term(meta.index) === meta.term) await log.compact(meta.index);
      else await log.reset(meta.index + 1);
    }
    if (rd.entries.length > 0) {
      const blocking = this.#blocking(role);
      const start = blocking ? this.#o.nowMs?.() : undefined;
      await log.append(rd.entries, blocking ? BLOCKING : undefined);
      if (start !== undefined) this.#afterBlocking(start);
    }
    // When the commit must be saved too: hard_state_policy.ts.
    const hs = hardStateToSave(this.#savedHard, rd, this.#o.snapshotEveryEntries);
    if (hs) {
      await hardState.save(hs);
      this.#savedHard = hs;
    }
    if (this.#o.observePersistMs && (rd.entries.length > 0 || rd.snapshot)) {
      this.#o.observePersistMs((this.#o.nowMs?.() ?? 0) - t0);
    }
  }

  /** The policy's answer, unless a slow blocking sync came lately (needs `nowMs`). */
  #blocking(role: Role): boolean {
    if (!(this.#o.blockingPersist ?? blockingPersist)(role)) return false;
    const now = this.#o.nowMs;
    return now === undefined || now() >= this.#asyncUntilMs;
  }

  #afterBlocking(startMs: number): void {
    const end = this.#o.nowMs!();
    if (end - startMs > this.#slowSyncMs) this.#asyncUntilMs = end + ASYNC_AFTER_SLOW_SYNC_MS;
  }
}
