/**
 * The SnapshotStore port (Raft §7), in the manner of hashicorp/raft's `SnapshotStore`.
 * Implementations: `FileSnapshotStore` (atomic replace, checksum, keeps the newest two) and
 * `MemorySnapshotStore`.
 *
 * @module
 */

import type { Snapshot, SnapshotData, SnapshotMeta, StoredSnapshot } from "../raft/mod.ts";

/** A stored snapshot opened for reading: its data comes from storage on demand until closed. */
export interface OpenedSnapshot extends StoredSnapshot {
  readonly data: SnapshotData & {
    /** Lets the storage go (a file descriptor); reading afterwards throws. Idempotent. */
    close(): void;
  };
}

/**
 * Thrown by the parts given to `saveStream` when their maker gives up (a node closing during
 * the save): the store drops what it wrote of that snapshot and stays usable (not an I/O error).
 */
export class SnapshotSaveAbandoned extends Error {
  constructor() {
    super("snapshot save abandoned: the node closed");
    this.name = "SnapshotSaveAbandoned";
  }
}

/**
 * Contract:
 * - `save` resolves only once the snapshot is durable and `load` would return it. Only after
 *   that may the caller `compact` the log through `s.meta.index`.
 * - `load` returns the newest saved snapshot (by `meta.index`), undefined when none, and throws
 *   when the newest stored snapshot is damaged: the log entries it covers are gone, so falling
 *   back to an older snapshot would silently lose committed state.
 * - An I/O error in `save` is fatal: the caller stops the node. `SnapshotSaveAbandoned` from
 *   `saveStream`'s parts is not: the temporary file is removed and the error passed on.
 */
export interface SnapshotStore {
  load(): Promise<Snapshot | undefined>;
  save(s: Snapshot): Promise<void>;
  /**
   * Optional: saves the snapshot whose data is `parts` concatenated (as `save` does), writing the
   * parts as they are (no joined copy), and returns it with data that reads back from storage
   * chunk by chunk, so the Raft core can send it without holding it in memory. Without it the
   * driver joins the parts and calls `save`.
   */
  saveParts?(meta: SnapshotMeta, parts: readonly Uint8Array[]): Promise<StoredSnapshot>;
  /**
   * Optional: `saveParts` for parts made one at a time as they are iterated (so the caller never
   * holds them all); the same file, the same result.
   */
  saveStream?(meta: SnapshotMeta, parts: AsyncIterable<Uint8Array>): Promise<StoredSnapshot>;
  /**
   * Optional: `load` for a state machine that restores from data read on demand: the newest
   * snapshot, verified as `load` verifies it (throwing on damage), with data that reads from
   * storage (never the whole snapshot in memory) until `data.close()`. Afterwards `stored()`
   * returns it too.
   */
  open?(): Promise<OpenedSnapshot | undefined>;
  /**
   * Optional: the snapshot `meta` names, just saved by this store, opened as `open` opens it
   * (without reading it through again); undefined when it is no longer stored.
   */
  openSaved?(meta: SnapshotMeta): Promise<OpenedSnapshot | undefined>;
  /**
   * Optional: the newest snapshot loaded or saved, with data read back on demand (see
   * `saveParts`); undefined when none.
   */
  stored?(): StoredSnapshot | undefined;
}
