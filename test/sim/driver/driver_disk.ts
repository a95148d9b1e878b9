/**
 * The fake disk of one node in the driver simulation: the driver's `StoragePorts` (LogStore,
 * HardStateStore, SnapshotStore) over two images of the node's storage. Every mutating call is
 * applied at once to `written` (what the OS would read back) and queued; its promise resolves
 * only when the simulator completes that operation's fsync (`syncSome`), which also applies it to
 * `durable`. Each store has its own FIFO queue (as each file store does), so the simulator may
 * complete a snapshot save before an earlier log append. A crash keeps a random prefix of each
 * queue (pages the OS flushed on its own) and loses the rest.
 *
 * Every set of ports belongs to one incarnation (`epoch`): after a crash, calls through older
 * ports return promises that never settle, so an abandoned driver can never write into, or be
 * resumed by, the disk of the node's next life.
 *
 * @module
 */

import type { Entry, HardState, Snapshot } from "../../../cluster/raft/mod.ts";
import type { StoragePorts } from "../../../cluster/node/mod.ts";
import { assertContiguous } from "../../../cluster/storage/mod.ts";
import type { Prng } from "../prng.ts";

/** One image of a node's storage: the log (`first..first+entries.length-1`), hard state, snapshot. */
export interface DiskImage {
  first: number;
  entries: Entry[];
  hard: HardState | undefined;
  snap: Snapshot | undefined;
}

type StoreName = "log" | "hard" | "snap";
const STORES: readonly StoreName[] = ["log", "hard", "snap"];

interface PendingOp {
  readonly apply: (img: DiskImage) => void;
  readonly resolve: () => void;
}

function emptyImage(): DiskImage {
  return { first: 1, entries: [], hard: undefined, snap: undefined };
}

function cloneImage(img: DiskImage): DiskImage {
  return { first: img.first, entries: img.entries.slice(), hard: img.hard, snap: img.snap };
}

/** The last index of the log image (`first - 1` when empty). */
export function imageLastIndex(img: DiskImage): number {
  return img.first + img.entries.length - 1;
}

/** The LogStore contract's `append`, on an image; throws on a precondition violation. */
function appendTo(img: DiskImage, entries: readonly Entry[]): void {
  assertContiguous(entries, "Cannot append to the simulated log");
  if (entries.length === 0) return;
  const start = entries[0].index;
  if (img.entries.length === 0) {
    img.first = start;
  } else if (start > imageLastIndex(img) + 1 || start < img.first) {
    throw new Error(
      `Cannot append entry ${start} to the simulated log: it holds ${img.first}..${
        imageLastIndex(img)
      }`,
    );
  }
  img.entries.length = start - img.first;
  for (const e of entries) img.entries.push(e);
}

/** The LogStore contract's `readEntries`, on an image. */
function readImage(img: DiskImage, lo: number, hi: number, maxBytes: number): Entry[] {
  if (lo >= hi) return [];
  if (lo < img.first || hi - 1 > imageLastIndex(img)) {
    throw new Error(
      `Cannot read entries ${lo}..${hi - 1} from the simulated log: it holds ${img.first}..${
        imageLastIndex(img)
      }`,
    );
  }
  let end = lo;
  let bytes = 0;
  while (end < hi) {
    bytes += img.entries[end - img.first].data.length + 24;
    if (bytes > maxBytes && end > lo) break;
    end++;
  }
  return img.entries.slice(lo - img.first, end - img.first);
}

function compactTo(img: DiskImage, throughIndex: number): void {
  if (throughIndex < img.first) return;
  img.entries.splice(0, Math.min(throughIndex + 1 - img.first, img.entries.length));
  img.first = throughIndex + 1;
}

/** The disk of one simulated node, across its incarnations. */
export class SimDisk {
  durable: DiskImage = emptyImage();
  written: DiskImage = emptyImage();
  /** Bumped at every crash: ports of older epochs are dead. */
  epoch = 0;
  readonly stats = { ops: 0, syncs: 0, lostOps: 0 };
  readonly #queues: Record<StoreName, PendingOp[]> = { log: [], hard: [], snap: [] };

  /** Operations waiting for their fsync. */
  pendingCount(): number {
    return this.#queues.log.length + this.#queues.hard.length + this.#queues.snap.length;
  }

  /**
   * Completes up to `maxOps` pending operations, each time at the head of a queue drawn at
   * random: the operation becomes durable and its promise resolves. Returns how many completed.
   */
  syncSome(prng: Prng, maxOps: number): number {
    let n = 0;
    while (n < maxOps) {
      const ready = STORES.filter((s) => this.#queues[s].length > 0);
      if (ready.length === 0) break;
      const op = this.#queues[ready.length === 1 ? ready[0] : prng.pick(ready)].shift()!;
      op.apply(this.durable);
      op.resolve();
      n++;
    }
    this.stats.syncs += n;
    return n;
  }

  /** Power loss: a random prefix of each queue reaches the disk, the rest is lost. */
  crash(prng: Prng): number {
    let lost = 0;
    for (const s of STORES) {
      const q = this.#queues[s];
      const survive = prng.int(q.length + 1);
      for (let i = 0; i < survive; i++) q[i].apply(this.durable);
      lost += q.length - survive;
      q.length = 0;
    }
    this.stats.lostOps += lost;
    this.written = cloneImage(this.durable);
    this.epoch++;
    return lost;
  }

  /** Storage ports for the current incarnation; `onSnapshotSave` sees each snapshot saved. */
  ports(onSnapshotSave: (s: Snapshot) => void = () => {}): StoragePorts {
    const epoch = this.epoch;
    const live = () => epoch === this.epoch;
    const read = <T>(f: () => T): Promise<T> =>
      live() ? Promise.resolve(f()) : new Promise(() => {});
    const op = (store: StoreName, apply: (img: DiskImage) => void): Promise<void> => {
      // An abandoned incarnation's calls never settle and never touch the disk.
      if (!live()) return new Promise(() => {});
      this.stats.ops++;
      try {
        apply(this.written);
      } catch (e) {
        return Promise.reject(e);
      }
      return new Promise((resolve) => this.#queues[store].push({ apply, resolve }));
    };
    const w = () => this.written;
    return {
      log: {
        load: () => read(() => ({ entries: w().entries.slice() })),
        append: (entries) => {
          const copy = entries.slice();
          return op("log", (img) => appendTo(img, copy));
        },
        compact: (through) => op("log", (img) => compactTo(img, through)),
        reset: (next) =>
          op("log", (img) => {
            if (!Number.isSafeInteger(next) || next < 1) {
              throw new Error(`Cannot reset the simulated log to index ${next}`);
            }
            img.entries = [];
            img.first = next;
          }),
        firstIndex: () => w().first,
        lastIndex: () => imageLastIndex(w()),
        term: (index) => w().entries[index - w().first]?.term,
        // What the process sees, queued operations included (stricter than the file store): a
        // core that read behind a compaction or a reset it asked for would fail here.
        readEntries: (lo, hi, maxBytes) => readImage(w(), lo, hi, maxBytes),
        close: () => read(() => undefined),
      },
      hardState: {
        load: () => read(() => w().hard),
        save: (hs) =>
          op("hard", (img) => {
            img.hard = hs;
          }),
      },
      snapshots: {
        load: () => read(() => w().snap),
        // The newest snapshot by index wins, as the file store's `load` picks it.
        save: (s) => {
          if (live()) onSnapshotSave(s);
          return op("snap", (img) => {
            if (img.snap === undefined || s.meta.index >= img.snap.meta.index) img.snap = s;
          });
        },
      },
    };
  }
}

/**
 * A broken port, to prove the simulator can fail: `append` resolves at once, before its write is
 * synced (the write stays in the unsynced layer, so a crash can lose acknowledged entries).
 * Precondition failures of the hidden write are reported through `onError`.
 */
export function appendResolvesEarly(
  ports: StoragePorts,
  onError: (e: unknown) => void,
): StoragePorts {
  const log = ports.log;
  return {
    ...ports,
    log: {
      load: () => log.load(),
      append: (entries) => {
        log.append(entries).catch(onError);
        return Promise.resolve();
      },
      compact: (i) => log.compact(i),
      reset: (i) => log.reset(i),
      firstIndex: () => log.firstIndex(),
      lastIndex: () => log.lastIndex(),
      term: (i) => log.term(i),
      close: () => log.close(),
    },
  };
}
