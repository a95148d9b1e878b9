/**
 * The Raft and snapshot thresholds a real node runs with, in one place: `start.ts` wires them
 * into the node driver, and the simulator's production-setting seeds run with the same values.
 *
 * @module
 */

/** Raft timing: a tick every 50 ms, elections after 0.5–1 s of silence, heartbeats per tick. */
export const TICK_MS = 50;
export const ELECTION_TICKS = 10;
export const HEARTBEAT_TICKS = 1;
/** A snapshot every this many applied entries bounds the log and restart replay time. */
export const SNAPSHOT_EVERY_ENTRIES = 20_000;
/** See `snapshotLogFactor` in cluster/node/driver.ts: the log may grow to half the state. */
export const SNAPSHOT_LOG_FACTOR = 0.5;
/** ...but never more than this many entries since the last: a restart replays at most these. */
export const SNAPSHOT_ENTRIES_MAX = 4 * SNAPSHOT_EVERY_ENTRIES;
/**
 * ...and `SNAPSHOT_EVERY_ENTRIES` is also reached at this many bytes of entries: an entry carries
 * a batch of proposals, so by count alone the log would grow up to 256 times larger than it did
 * with one proposal an entry (20,000 publishes of 256 B were ~8 MiB).
 */
export const SNAPSHOT_EVERY_BYTES = 8 * 1024 * 1024;
