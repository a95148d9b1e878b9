/**
 * The initial membership lives in the replicated log, as etcd does it: on the very first start
 * of an original member (empty storage, a non-empty bootstrap configuration), the node writes
 * one `add_learner` + `promote` pair per voter as committed entries of term 1, byte-identical on
 * every original member (ids sorted, URLs from the same `--peers`). Raft itself then starts
 * from an empty configuration and every node, a later joiner included, derives its membership
 * by applying the same log. (A joiner that replayed only the later changes on top of an empty
 * bootstrap would believe it is the only voter and elect itself: chaos finding F1.)
 *
 * @module
 */

import {
  type ConfState,
  encodeConfChange,
  type Entry,
  EntryKind,
  type InitialState,
  NO_NODE,
  type NodeId,
} from "../raft/mod.ts";
import { type LoadedState, loadInitialState } from "../storage/mod.ts";
import type { LogEvent, StoragePorts } from "./ports.ts";

const EMPTY_CONF: ConfState = { voters: [], learners: [] };

/** The committed term-1 entries that make `conf` the membership. */
export function bootstrapEntries(
  conf: ConfState,
  urls: ReadonlyMap<NodeId, string>,
): Entry[] {
  const entries: Entry[] = [];
  const add = (data: Uint8Array) =>
    entries.push({ term: 1, index: entries.length + 1, kind: EntryKind.ConfChange, data });
  for (const id of [...conf.voters].sort()) {
    const url = urls.get(id);
    add(encodeConfChange({ op: "add_learner", nodeId: id, ...(url ? { context: url } : {}) }));
    add(encodeConfChange({ op: "promote", nodeId: id }));
  }
  for (const id of [...conf.learners].sort()) {
    const url = urls.get(id);
    add(encodeConfChange({ op: "add_learner", nodeId: id, ...(url ? { context: url } : {}) }));
  }
  return entries;
}

/**
 * Loads what storage holds; on a brand-new original member, first writes the bootstrap entries
 * (durably) so that the membership comes from the log like every later change.
 */
export async function loadOrBootstrap(o: {
  readonly storage: StoragePorts;
  readonly log?: LogEvent;
  readonly bootstrapConf: ConfState;
  readonly bootstrapUrls: ReadonlyMap<NodeId, string>;
}): Promise<LoadedState> {
  const note = (detail: string) => o.log?.("warn", "storage_recovery", { detail });
  const initial = commitSettledConfChanges(await loadInitialState(o.storage, EMPTY_CONF, note));
  const empty = initial.snapshot === undefined && initial.entries.length === 0 &&
    initial.hardState.term === 0;
  const members = o.bootstrapConf.voters.length + o.bootstrapConf.learners.length;
  if (!empty || members === 0) return initial;
  const entries = bootstrapEntries(o.bootstrapConf, o.bootstrapUrls);
  await o.storage.log.append(entries);
  await o.storage.hardState.save({ term: 1, vote: NO_NODE, commit: entries.length });
  return await loadInitialState(o.storage, EMPTY_CONF, note);
}

/**
 * Starts the commit index at least at the second-to-last conf change entry of the log. A
 * membership change followed in the log by another one is committed: a leader appends a change
 * only once it applied every earlier one in its log (`pendingConfIndex`), and a log holding the
 * later change agrees with that leader's log up to it (log matching). The saved commit can be
 * older than that when a crash fell between the fsync of the entries and the save of the hard
 * state that committed them (the driver saves the commit with every applied membership change,
 * but after the entries); the node would then restart two or more changes back, to a voter set
 * whose quorum need not overlap the current one's. From here it starts at most one change behind
 * its log, as any follower that has not yet heard the latest commit index.
 */
export function commitSettledConfChanges<T extends InitialState>(initial: T): T {
  const confs = initial.entries.filter((e) => e.kind === EntryKind.ConfChange);
  const settled = confs.length >= 2 ? confs[confs.length - 2].index : 0;
  if (settled <= initial.hardState.commit) return initial;
  return { ...initial, hardState: { ...initial.hardState, commit: settled } };
}
