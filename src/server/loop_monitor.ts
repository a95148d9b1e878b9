/**
 * Measures how long the event loop is held: a 10 ms interval timer records how late each turn
 * comes, keeping the worst delay per 100 ms for the last minute. The node logs, with each
 * `snapshot_taken`, the worst delay while the snapshot was taken (`loopDelayMaxMs`) and, as a
 * reference under the same machine load, the worst over as long a time just before it started
 * (`loopDelayMaxBeforeMs`): on a busy machine the scheduler alone delays a turn by tens of ms.
 * To tell the two apart it also logs `loopBusyMaxMs`: the most CPU time the event loop's thread
 * itself ran between two turns during the snapshot (`threadCpuMs`, read only while a snapshot is
 * measured). A late turn whose thread barely ran waited for a core; one whose thread ran all
 * along was held by work in this process (a slice, a collection). When the worst turn came
 * (`duringAt`) lets a probe outside the process (`test/bench/startup_bench.ts` reads the thread's
 * state in /proc, which Deno lets only a process with every permission read) say what the thread
 * was doing just before.
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
  /** When each bucket's worst turn came (`nowMs` time). */
  readonly #worstAt = new Float64Array(BUCKETS);
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
      this.#worstAt[i] = now;
    }
    if (delayMs > this.#worst[i]) {
      this.#worst[i] = delayMs;
      this.#worstAt[i] = now;
    }
  }

  /** The worst delay recorded in [from, to) (bucket resolution; the last minute only). */
  worst(from: number, to: number): number {
    return this.#worstIn(from, to).delay;
  }

  /** The worst delay in [from, to) and when that turn came (`nowMs` time; NaN without one). */
  #worstIn(from: number, to: number): { delay: number; at: number } {
    let w = 0, at = NaN;
    for (let b = Math.floor(from / BUCKET_MS); b <= Math.floor(to / BUCKET_MS); b++) {
      const i = b % BUCKETS;
      if (this.#bucketOf[i] === b && this.#worst[i] > w) {
        w = this.#worst[i];
        at = this.#worstAt[i];
      }
    }
    return { delay: w, at };
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
  end(): { during: number; duringAt: number; before: number; busy: number | undefined } {
    const now = this.nowMs();
    // The turn that is due now counts too: a stall that has not ended yet.
    if (this.#timer !== undefined) this.record(now, now - this.#last - PROBE_MS);
    this.turn();
    this.#measuring = false;
    const span = now - this.#startedAt;
    const during = this.#worstIn(this.#startedAt, now);
    return {
      during: during.delay,
      duringAt: during.at,
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
