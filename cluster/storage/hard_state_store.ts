/**
 * The HardStateStore port: term, vote and commit (Raft Figure 2, "persistent state on all
 * servers"), in the manner of hashicorp/raft's `StableStore`. Implementations:
 * `FileHardStateStore` (atomic replace, checksum) and `MemoryHardStateStore`.
 *
 * @module
 */

import type { HardState } from "../raft/mod.ts";

/**
 * Contract:
 * - `save` resolves only once `hs` is durable; a crash at any moment leaves either the previous
 *   or the new hard state, never a mix or garbage.
 * - `load` returns the last saved hard state, undefined when none was ever saved, and throws
 *   when the stored copy is damaged (never a silent zero: a forgotten vote allows two votes in
 *   one term, Raft §5.2).
 * - An I/O error in `save` is fatal: the caller stops the node.
 *
 * Cost: the file store's `save` is a temp-file write, an fdatasync, a rename and a directory
 * fsync (about 5 ms here, see `test/bench/fsync_bench.ts`). Raft needs only `term` and `vote`
 * durable before answering (Figure 2: commitIndex is volatile state), so a driver may skip
 * `save` when only `commit` changed; the commit index is then relearned from the leader.
 */
export interface HardStateStore {
  load(): Promise<HardState | undefined>;
  save(hs: HardState): Promise<void>;
}
