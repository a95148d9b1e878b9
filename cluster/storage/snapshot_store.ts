/**
 * The SnapshotStore port (Raft §7), in the manner of hashicorp/raft's `SnapshotStore`.
 * Implementations: `FileSnapshotStore` (atomic replace, checksum, keeps the newest two) and
 * `MemorySnapshotStore`.
 *
 * @module
 */

import type { Snapshot } from "../raft/mod.ts";

/**
 * Contract:
 * - `save` resolves only once the snapshot is durable and `load` would return it. Only after
 *   that may the caller `compact` the log through `s.meta.index`.
 * - `load` returns the newest saved snapshot (by `meta.index`), undefined when none, and throws
 *   when the newest stored snapshot is damaged: the log entries it covers are gone, so falling
 *   back to an older snapshot would silently lose committed state.
 * - An I/O error in `save` is fatal: the caller stops the node.
 */
export interface SnapshotStore {
  load(): Promise<Snapshot | undefined>;
  save(s: Snapshot): Promise<void>;
}
