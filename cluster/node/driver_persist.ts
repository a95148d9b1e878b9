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

/** Persists Readies in order and tracks the saved hard state. */
export class ReadyPersister {
  readonly #o: NodeDriverOptions;
  #savedHard: HardState;

  constructor(o: NodeDriverOptions, hard: HardState) {
    this.#o = o;
    this.#savedHard = hard;
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
      const blocking = (this.#o.blockingPersist ?? blockingPersist)(role);
      await log.append(rd.entries, blocking ? BLOCKING : undefined);
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
}
