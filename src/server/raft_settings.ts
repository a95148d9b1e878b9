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
/**
 * The leader holds a commit back from the followers for up to this long when no append carries
 * it (`deferCommitNotice`, cluster/raft/types.ts): a publisher waiting for each answer sends the
 * next message well within it, and that message's append carries the commit. It saves an append
 * and its answer per follower and round (docs/design.md). 10 ms, not 2: with 64 publishes in
 * flight a round takes 2.5–8 ms on a shared 2-core machine, so a 2 ms hold ran out in most rounds
 * and each follower got an append of the commit alone and answered it (an extra wake-up of all
 * three nodes per entry). Nothing a client waits for waits on a follower's apply (a read on a
 * follower takes the commit from its read index's heartbeat round); followers apply at most 10
 * ms later when the publishing stops (docs/mqtt.md, "Session 14: per-entry cost").
 */
export const DEFER_COMMIT_NOTICE = true;
export const COMMIT_NOTICE_MS = 10;
/** A snapshot every this many applied entries bounds the log and restart replay time. */
export const SNAPSHOT_EVERY_ENTRIES = 20_000;
/** See `snapshotLogFactor` in cluster/node/driver_options.ts: the log may grow to half the state. */
export const SNAPSHOT_LOG_FACTOR = 0.5;
/** ...but never more than this many entries since the last: a restart replays at most these. */
export const SNAPSHOT_ENTRIES_MAX = 4 * SNAPSHOT_EVERY_ENTRIES;
/**
 * ...and at 256 MiB of entries since the last whatever their count. The bound was 64 MiB when the
 * Raft core kept every entry since the last snapshot in memory (20,000 batch entries held ~280
 * MB); the core now keeps `LOG_CACHE_BYTES` of them, so this bounds only the log a restart replays
 * and the disk it takes. Batch entries (100 messages each) never reach `SNAPSHOT_EVERY_ENTRIES`
 * soon, so this bound is what takes their snapshots, and a snapshot costs CPU in proportion to the
 * whole state: at 64 MiB, a 100-message batch publish load (the peers' B100) snapshotted a 60–120
 * MB state every ~220,000 messages on every node, a third of the cluster's CPU per message in the
 * runs it fell in (docs/http.md, "Why one B100 run in three was faster"). 256 MiB replays in about
 * as long as the `SNAPSHOT_ENTRIES_MAX` small entries already may (docs/storage.md).
 */
export const SNAPSHOT_LOG_BYTES_MAX = 256 * 2 ** 20;
/**
 * The newest entries the Raft core keeps in memory (`RaftConfig.logCacheBytes`); older ones are
 * read back from the log files for a follower that fell that far behind. A follower in step needs
 * only the last few entries; every byte here is held on every node (docs/storage.md, "Memory").
 */
export const LOG_CACHE_BYTES = 8 * 2 ** 20;
