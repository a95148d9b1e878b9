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
import { readFileIfExists, syncDir, writeFileAtomic } from "./_fs.ts";

export { type AppendOptions, assertContiguous, type LogStore } from "./log_store.ts";
export type { HardStateStore } from "./hard_state_store.ts";
export {
  type OpenedSnapshot,
  SnapshotSaveAbandoned,
  type SnapshotStore,
} from "./snapshot_store.ts";
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
  /**
   * A random id made when this data directory was first created (`memory`: when opened), kept
   * in the `incarnation` file: the cluster tells a member that came back with another data
   * directory apart by it (cluster/node/identity.ts).
   */
  readonly incarnation: string;
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
  let incarnation: string;
  if (mode === "memory") {
    incarnation = newIncarnation();
    stores = {
      log: new MemoryLogStore(),
      hardState: new MemoryHardStateStore(),
      snapshots: new MemorySnapshotStore(),
    };
  } else {
    await Deno.mkdir(`${dir}/snapshots`, { recursive: true });
    await Deno.mkdir(`${dir}/log`, { recursive: true });
    await syncDir(dir);
    incarnation = await loadIncarnation(dir);
    stores = {
      log: await FileLogStore.open(`${dir}/log`, opts),
      hardState: new FileHardStateStore(dir),
      snapshots: new FileSnapshotStore(`${dir}/snapshots`),
    };
  }
  return {
    ...stores,
    mode,
    incarnation,
    loadInitialState: (conf) => loadInitialState(stores, conf, opts.log),
    close: () => stores.log.close(),
  };
}

/** The file that holds a data directory's incarnation id. */
export const INCARNATION_FILE = "incarnation";

/** Reads the directory's incarnation, or makes one (durably) when it has none yet. */
async function loadIncarnation(dir: string): Promise<string> {
  const bytes = await readFileIfExists(`${dir}/${INCARNATION_FILE}`);
  const text = bytes === undefined ? "" : new TextDecoder().decode(bytes).trim();
  if (/^[0-9a-f]{32}$/.test(text)) return text;
  if (text !== "") {
    throw new Error(
      `Cannot open the storage: ${dir}/${INCARNATION_FILE} is damaged (expected 32 hex digits)`,
    );
  }
  const made = newIncarnation();
  await writeFileAtomic(dir, INCARNATION_FILE, new TextEncoder().encode(made + "\n"));
  return made;
}

/** 128 random bits, hex. */
function newIncarnation(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
