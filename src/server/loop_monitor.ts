/**
 * Measures how long the event loop is held: a 10 ms interval timer records how late each turn
 * comes, keeping the worst delay per 100 ms for the last minute. The node logs, with each
 * `snapshot_taken`, the worst delay while the snapshot was taken (`loopDelayMaxMs`) and, as a
 * reference under the same machine load, the worst over as long a time just before it started
 * (`loopDelayMaxBeforeMs`): on a busy machine the scheduler alone delays a turn by tens of ms.
 * To tell the two apart it also logs `loopBusyMaxMs`: the most CPU time the event loop's thread
 * itself ran between two turns during the snapshot (`threadCpuMs`, read only while a snapshot is
 * measured). A late turn whose thread barely ran waited for a core; one whose thread ran all
 * along was held by work in this process (a slice, a collection).
 *
 * @module
 */

import process from "node:process";

const PROBE_MS = 10;
const BUCKET_MS = 100;
const BUCKETS = 600;

export class LoopMonitor {
  #timer: ReturnType<typeof setInterval> | undefined;
  #last = 0;
  /** Worst delay per bucket, a ring indexed by `bucket % BUCKETS`. */
  readonly #worst = new Float64Array(BUCKETS);
  readonly #bucketOf = new Float64Array(BUCKETS).fill(-1);
  #startedAt = 0;
  /** While a span is measured: the thread's CPU at the last turn, and the most between two. */
  #measuring = false;
  #lastCpu: number | undefined;
  #busyMax = 0;

  constructor(
    readonly nowMs: () => number = () => performance.now(),
    readonly readThreadCpuMs: () => number | undefined = threadCpuMs,
  ) {}

  /** Starts probing (idempotent). */
  run(): void {
    if (this.#timer !== undefined) return;
    this.#last = this.nowMs();
    this.#timer = setInterval(() => {
      const now = this.nowMs();
      this.record(now, now - this.#last - PROBE_MS);
      this.#last = now;
      if (this.#measuring) this.turn();
    }, PROBE_MS);
    Deno.unrefTimer(this.#timer);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Records a turn that came `delayMs` late at `now` (the probe's callback; tests). */
  record(now: number, delayMs: number): void {
    const b = Math.floor(now / BUCKET_MS);
    const i = b % BUCKETS;
    if (this.#bucketOf[i] !== b) {
      this.#bucketOf[i] = b;
      this.#worst[i] = 0;
    }
    this.#worst[i] = Math.max(this.#worst[i], delayMs);
  }

  /** The worst delay recorded in [from, to) (bucket resolution; the last minute only). */
  worst(from: number, to: number): number {
    let w = 0;
    for (let b = Math.floor(from / BUCKET_MS); b <= Math.floor(to / BUCKET_MS); b++) {
      if (this.#bucketOf[b % BUCKETS] === b) w = Math.max(w, this.#worst[b % BUCKETS]);
    }
    return w;
  }

  /** Marks the start of a measured span (a snapshot). */
  begin(): void {
    this.#startedAt = this.nowMs();
    this.#measuring = true;
    this.#lastCpu = this.readThreadCpuMs();
    this.#busyMax = 0;
  }

  /** A turn of the loop while a span is measured: the thread's CPU since the last (tests). */
  turn(): void {
    const cpu = this.readThreadCpuMs();
    if (cpu !== undefined && this.#lastCpu !== undefined) {
      this.#busyMax = Math.max(this.#busyMax, cpu - this.#lastCpu);
    }
    this.#lastCpu = cpu;
  }

  /**
   * The worst delay since `begin()`, over as long a span just before it, and the most CPU the
   * loop's thread ran between two turns since `begin()` (undefined where it cannot be read).
   */
  end(): { during: number; before: number; busy: number | undefined } {
    const now = this.nowMs();
    // The turn that is due now counts too: a stall that has not ended yet.
    if (this.#timer !== undefined) this.record(now, now - this.#last - PROBE_MS);
    this.turn();
    this.#measuring = false;
    const span = now - this.#startedAt;
    return {
      during: this.worst(this.#startedAt, now),
      before: this.worst(this.#startedAt - span, this.#startedAt - 1),
      busy: this.#lastCpu === undefined ? undefined : this.#busyMax,
    };
  }
}

/**
 * The CPU time the calling thread has run, in ms (`process.threadCpuUsage()`, getrusage of the
 * thread: to a scheduler tick, a few ms); undefined where the runtime lacks it.
 */
export function threadCpuMs(): number | undefined {
  const usage = (process as { threadCpuUsage?: () => { user: number; system: number } })
    .threadCpuUsage?.();
  return usage === undefined ? undefined : (usage.user + usage.system) / 1000;
}
