/**
 * When the node driver saves the hard state, shared with the simulator's RawNode loop so that its
 * production-setting seeds save exactly as a real node does.
 *
 * Term and vote must be durable before any message that depends on them leaves (Raft Figure 2).
 * The commit index is volatile state in the paper: saving it with every Ready would cost a rename
 * and two fsyncs per batch, so it is saved with term/vote changes, every `snapshotEveryEntries /
 * 4` entries (which bounds what a restarted node replays before it hears from a leader), and
 * whenever a Ready commits a membership change: the core applies the change in `advance()`, after
 * the persist, so the membership a node has applied is always rebuilt on restart. A restarted node
 * takes its membership from the snapshot plus the entries up to the saved commit; with an older
 * commit it could return to a voter set two changes back, whose quorum need not overlap the
 * current one's, and lead beside the real leader (docs/reliability.md item 11). Membership changes are rare, so this
 * costs one more save per change. `commitSettledConfChanges` (bootstrap.ts) covers a crash
 * between the entries' fsync and this save.
 *
 * @module
 */

import { EntryKind, type HardState, type Ready } from "../raft/mod.ts";

/** The hard state to save for `rd` (`saved` is the last one saved), or undefined for none. */
export function hardStateToSave(
  saved: HardState,
  rd: Ready,
  snapshotEveryEntries: number,
): HardState | undefined {
  const hs = rd.hardState;
  if (hs && (hs.term !== saved.term || hs.vote !== saved.vote)) return hs;
  const committed = rd.committedEntries;
  const last = committed.at(-1)?.index ?? 0;
  if (last > saved.commit && committed.some((e) => e.kind === EntryKind.ConfChange)) {
    return hs ?? { term: saved.term, vote: saved.vote, commit: last };
  }
  if (!hs) return undefined;
  const every = Math.max(1, Math.floor(snapshotEveryEntries / 4));
  return hs.commit - saved.commit >= every ? hs : undefined;
}
