/**
 * Building the `InitialState` the Raft core starts from, out of the three stores, and repairing
 * the log store so that it agrees with it.
 *
 * @module
 */

import {
  type ConfState,
  type Entry,
  type InitialState,
  NO_NODE,
  type Snapshot,
} from "../raft/mod.ts";
import type { HardStateStore } from "./hard_state_store.ts";
import type { LogStore } from "./log_store.ts";
import type { OpenedSnapshot, SnapshotStore } from "./snapshot_store.ts";

/**
 * What storage holds at start: the newest snapshot for the state machine, with its bytes, or
 * opened with its data read on demand when the store can (`SnapshotStore.open`: a restart then
 * never holds the whole snapshot in memory; whoever restores it closes it).
 */
export interface LoadedState extends InitialState {
  readonly snapshot?: Snapshot | OpenedSnapshot;
}

/** The three ports of a node's storage. */
export interface Stores {
  readonly log: LogStore;
  readonly hardState: HardStateStore;
  readonly snapshots: SnapshotStore;
}

/**
 * Load the snapshot, the entries after it and the hard state, made consistent:
 * - entries covered by the snapshot are dropped (and compacted in the log store);
 * - entries not contiguous with the snapshot (a gap after it, or a different term at its index,
 *   Raft §7 "discard the entire log") are dropped and the log store is reset after it;
 * - the hard state's commit is clamped to `[snapshot index, last index held]`.
 * Throws when the log does not start at 1 and no snapshot covers the entries before it: that
 * is lost data, and the node must not start.
 */
export async function loadInitialState(
  stores: Stores,
  bootstrapConf: ConfState,
  note: (msg: string) => void = console.warn,
): Promise<LoadedState> {
  const snapshot = stores.snapshots.open
    ? await stores.snapshots.open()
    : await stores.snapshots.load();
  const hs = (await stores.hardState.load()) ?? { term: 0, vote: NO_NODE, commit: 0 };
  let entries: Entry[] = (await stores.log.load()).entries;
  if (snapshot) {
    entries = await fitToSnapshot(stores.log, entries, snapshot.meta, note);
  } else if (entries.length > 0 && entries[0].index !== 1) {
    throw new Error(
      `Cannot load the Raft state: the log starts at index ${entries[0].index} and no snapshot ` +
        `covers the entries before it`,
    );
  }
  const floor = snapshot?.meta.index ?? 0;
  const lastIndex = entries.at(-1)?.index ?? floor;
  const commit = Math.max(floor, Math.min(hs.commit, lastIndex));
  if (commit !== hs.commit) {
    note(`Raft storage: commit index ${hs.commit} clamped to ${commit} (log held to ${lastIndex})`);
  }
  return { hardState: { term: hs.term, vote: hs.vote, commit }, bootstrapConf, snapshot, entries };
}

async function fitToSnapshot(
  log: LogStore,
  entries: Entry[],
  meta: { readonly index: number; readonly term: number },
  note: (msg: string) => void,
): Promise<Entry[]> {
  const termAtSnapshot = log.term(meta.index);
  const after = entries.filter((e) => e.index > meta.index);
  const contiguous = after.length === 0 || after[0].index === meta.index + 1;
  const matches = (termAtSnapshot === undefined || termAtSnapshot === meta.term) &&
    (after.length === 0 || after[0].term >= meta.term);
  if (!contiguous || !matches) {
    note(
      `Raft storage: discarding log entries ${entries[0].index}..${entries.at(-1)!.index}: ` +
        `they do not continue the snapshot at index ${meta.index} term ${meta.term}`,
    );
    await log.reset(meta.index + 1);
    return [];
  }
  if (log.firstIndex() <= meta.index) await log.compact(meta.index);
  return after;
}
