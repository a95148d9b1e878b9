/**
 * The settings a seed runs with, shared by the RawNode, driver and broker harnesses: the tick
 * constants and which seeds get which cluster size and production thresholds. A leaf module
 * (no imports), so `run.ts`, `quiet.ts` and `campaign.ts` can all read it without importing
 * each other.
 *
 * @module
 */

/** Ticks per election timeout in the simulated cluster. */
export const ELECTION_TICKS = 10;
/** Ticks per heartbeat in the simulated cluster. */
export const HEARTBEAT_TICKS = 2;

/** The cluster size a seed runs with when none is given. */
export function nodesForSeed(seed: number, nodes?: 3 | 5): 3 | 5 {
  return nodes ?? (seed % 2 === 0 ? 3 : 5);
}

/**
 * Production-setting seeds, a quarter of every campaign (one 3-node and one 5-node seed in each 8):
 * every threshold at the value a real node runs with (`src/server/raft_settings.ts`, the core's
 * defaults, the driver's hard-state saving) instead of the small values that make snapshots and
 * hard-state saves happen every few entries, and a nemesis that always mixes restarts, partitions
 * and membership changes, with removed nodes left running. The small values hid a restart into an older membership (docs/reliability.md item 11).
 */
export function isProductionSeed(seed: number): boolean {
  return seed % 8 === 3 || seed % 8 === 4;
}
