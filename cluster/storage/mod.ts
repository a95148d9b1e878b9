/**
 * Durable Raft storage: the log, the hard state and snapshots, each a port with a file and a
 * memory implementation. `openStorage` opens all three for one node; `loadInitialState` turns
 * them into the core's `InitialState`. What each mode promises is in `docs/storage.md`.
 *
 * The node driver, for every Ready: `snapshots.save(snapshot)` then `log.compact(index)` (or
 * `log.reset(index + 1)` when the log does not hold `index` with the snapshot's term), then
 * `log.append(entries)`, then `hardState.save(hardState)`, awaiting each, and only then sends
 * `messagesAfterPersist`. Any rejection from a store is fatal: stop the node.
 *
 * @module
 */

import type { ConfState, InitialState } from "../raft/mod.ts";
import { FileLogStore } from "./file_log_store.ts";
import { FileHardStateStore, MemoryHardStateStore } from "./file_hard_state_store.ts";
import { FileSnapshotStore, MemorySnapshotStore } from "./file_snapshot_store.ts";
import { loadInitialState, type Stores } from "./initial_state.ts";
import { MemoryLogStore } from "./memory_log_store.ts";
import { syncDir } from "./_fs.ts";

export { assertContiguous, type LogStore } from "./log_store.ts";
export type { HardStateStore } from "./hard_state_store.ts";
export type { SnapshotStore } from "./snapshot_store.ts";
export { FileLogStore, type FileLogStoreOptions, LogCorruptionError } from "./file_log_store.ts";
export { MemoryLogStore } from "./memory_log_store.ts";
export { FileHardStateStore, MemoryHardStateStore } from "./file_hard_state_store.ts";
export { FileSnapshotStore, MemorySnapshotStore } from "./file_snapshot_store.ts";
export { type LoadedState, loadInitialState, type Stores } from "./initial_state.ts";

/** `fsync`: every store writes files and fsyncs before resolving; `memory`: no disk at all. */
export type StorageMode = "fsync" | "memory";

/** A node's opened storage. */
export interface Storage extends Stores {
  readonly mode: StorageMode;
  /** `loadInitialState` over these stores (it may compact or reset the log to agree). */
  loadInitialState(bootstrapConf: ConfState): Promise<InitialState>;
  /** Close the log (waits for queued appends). */
  close(): Promise<void>;
}

/** Options of `openStorage`. */
export interface StorageOptions {
  /** See `FileLogStoreOptions.segmentBytesMax`. */
  readonly segmentBytesMax?: number;
  /** Where recovery notes go. Default `console.warn`. */
  readonly log?: (msg: string) => void;
  /** See `FileLogStoreOptions.afterSync` (a test seam). */
  readonly afterSync?: (segmentPath: string, durableBytes: number) => void;
}

/**
 * Open a node's storage. In `fsync` mode `dir` holds `log/` (segments), `hard_state` and
 * `snapshots/`; it is created if missing, and opening verifies the whole log (throwing
 * `LogCorruptionError` on damage: the node must not start). In `memory` mode `dir` is unused.
 */
export async function openStorage(
  dir: string,
  mode: StorageMode,
  opts: StorageOptions = {},
): Promise<Storage> {
  let stores: Stores;
  if (mode === "memory") {
    stores = {
      log: new MemoryLogStore(),
      hardState: new MemoryHardStateStore(),
      snapshots: new MemorySnapshotStore(),
    };
  } else {
    await Deno.mkdir(`${dir}/snapshots`, { recursive: true });
    await Deno.mkdir(`${dir}/log`, { recursive: true });
    await syncDir(dir);
    stores = {
      log: await FileLogStore.open(`${dir}/log`, opts),
      hardState: new FileHardStateStore(dir),
      snapshots: new FileSnapshotStore(`${dir}/snapshots`),
    };
  }
  return {
    ...stores,
    mode,
    loadInitialState: (conf) => loadInitialState(stores, conf, opts.log),
    close: () => stores.log.close(),
  };
}
