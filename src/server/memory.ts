/**
 * Full garbage collections at the moments a node knows it left much garbage behind. V8 starts a
 * major collection only when allocation pushes the heap past its limit, so a node that goes
 * quiet after a burst of writes, a snapshot or a restore kept what they left (with a
 * 1,000,000-message backlog: ~200 MB of dead buffers and the ~280 MB of log entries a snapshot
 * compacted away) for minutes, in RSS, while its live state was ~450 MB.
 *
 * V8 gives JavaScript a collection only with `--expose-gc`, which the node's launch commands
 * pass (`V8_FLAGS`: `deno task start`, deploy/, the test harness). Without the
 * flag nothing here collects, and the memory goes back whenever V8 collects on its own. What is
 * collected goes back to the system only with `MALLOC_TUNABLES` below.
 *
 * @module
 */

/**
 * The node's `GLIBC_TUNABLES`, set by `deno task start`, deploy/ and the test harnesses. glibc
 * keeps memory freed inside its heaps, so after a burst of writes a node held ~500 MB it no
 * longer used (measured: `malloc_trim` gave 1,074 MB back down to 554 MB on a node that had
 * built a 1M-message backlog, before `V8_FLAGS` below). With these, blocks of 64 KiB and more
 * (the bodies' slabs, large log entries and frames, snapshot and restore buffers) get mappings
 * of their own, unmapped when freed, whatever glibc's sliding threshold would have grown to;
 * `mmap_max` keeps such mappings (32,768) under half of Linux's default `vm.max_map_count`
 * (65,530), so V8's own mappings never run out (past it, blocks come from the heaps as without
 * the setting); two arenas instead of eight per core gather the rest. The threshold was 8 KiB
 * until `V8_FLAGS` held the garbage down: that cost a `mmap`, a `munmap` and page faults per
 * request-sized buffer, 15–20% more server CPU per message of 100-message publishes under load,
 * for no lower peak (docs/storage.md, "The allocator's threshold").
 */
export const MALLOC_TUNABLES =
  "glibc.malloc.mmap_threshold=65536:glibc.malloc.arena_max=2:glibc.malloc.mmap_max=32768";

/**
 * The node's V8 flags, passed by `deno task start`, deploy/ and the test harnesses as
 * `--v8-flags=<these>` (docs/storage.md, "Memory"):
 * - `--expose-gc` for `fullCollection`;
 * - a young generation of 8 MB semi-spaces instead of V8's 16 MB. Array buffers whose JavaScript
 *   object dies young are freed at the next scavenge; with 16 MB a scavenge came rarely, since
 *   most of a node's bytes are array buffers outside the JavaScript heap, and both the young
 *   generation (~48 MB committed) and the dead buffers it had not swept stayed in RSS. 4 MB
 *   promoted the strings of a snapshot's parts, and the old generation grew more;
 * - the old generation's limit 20% above what the last full collection left
 *   (`--heap-growing-percent=20`), not V8's own factor (up to 4x): a leader's requests outlive a
 *   scavenge or two, and their garbage, heap and the array buffers it holds, piled up in the old
 *   generation between full collections (a leader's heap 47 MB live, 102 MB in use);
 * - but never below 128 MB (`--initial-old-space-size=128`: V8 takes a configured initial old
 *   generation as the floor of its limit, after every full collection, not only the first).
 *   A node's live heap is small (~20 MB on a follower, ~40 MB with a 1,000,000-message backlog,
 *   whose bytes are array buffers outside the heap), so 20% alone meant a full collection every
 *   few MB promoted: most of the nodes' main-thread collection time, and a third of a follower's
 *   CPU in V8's threads. Below the floor the old generation's garbage is bounded by 128 MB; the
 *   array buffers it holds still start a collection by themselves (V8's external-memory limit).
 *   Measured: server CPU per message of 100-message publishes ~40% lower, the same RSS peaks
 *   (docs/storage.md, "A floor under the old generation's limit").
 */
export const V8_FLAGS =
  "--expose-gc,--max-semi-space-size=8,--heap-growing-percent=20,--initial-old-space-size=128";

const exposed = (globalThis as { gc?: () => void }).gc;

/** Whether `fullCollection` collects (the process runs with `--expose-gc`). */
export const canCollect = typeof exposed === "function";

/** A full, synchronous collection (~20–60 ms with a 1,000,000-message backlog); else nothing. */
export function fullCollection(): void {
  exposed?.();
}

/** Options of `IdleCollector`. */
export interface IdleCollectorOptions {
  /** The node's applied index: it moves while the node is busy (writes, restores). */
  readonly appliedIndex: () => number;
  /**
   * Work under way that a pause would stall although nothing is applied: a snapshot being
   * encoded and saved, whose worst event-loop delay is a target (docs/storage.md). Counts as busy.
   */
  readonly busy?: () => boolean;
  readonly collect: () => void;
  /** Quiet checks in a row before collecting. */
  readonly quietChecks: number;
  /** Entries applied since the last collection below which a quiet node is left alone. */
  readonly minEntries: number;
}

/**
 * Collects once when the node turns quiet after work: `check()` (every second, say) sees the
 * applied index stand still `quietChecks` times in a row, after at least `minEntries` entries
 * since the last collection. A busy node is left to V8, which collects as it allocates; a quiet
 * one pays the pause (tens of ms) once, when nothing waits on it.
 */
export class IdleCollector {
  #seen: number;
  #collectedAt: number;
  #quiet = 0;

  constructor(readonly o: IdleCollectorOptions) {
    this.#seen = this.#collectedAt = o.appliedIndex();
  }

  /** One check; returns whether it collected. */
  check(): boolean {
    const index = this.o.appliedIndex();
    if (index !== this.#seen || this.o.busy?.() === true) {
      this.#seen = index;
      this.#quiet = 0;
      return false;
    }
    this.#quiet++;
    if (this.#quiet < this.o.quietChecks) return false;
    // Below too: an index that went back (a restore of an older snapshot) counts as work done.
    if (Math.abs(index - this.#collectedAt) < this.o.minEntries) return false;
    this.#collectedAt = index;
    this.o.collect();
    return true;
  }
}
