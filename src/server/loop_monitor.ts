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
 * The probe is the node's most frequent timer, and a timer that wakes an idle process costs far
 * more than its callback: ~80 µs of CPU per wake-up on a loaded machine (a 10 ms interval alone
 * took ~8 ms of CPU per second), a third of what a node of a quiet cluster spent at rest. A busy
 * node pays it too: between two Raft rounds its loop sleeps, and at a few hundred rounds a second
 * the 10 ms probe was a wake-up (an eventfd write, a context switch, a turn of the loop) for every
 * round or two (session 15, docs/transport.md "What wakes a node per entry"). So with the node's
 * ticker (`node_ticker.ts`: Raft's 50 ms tick, a wake-up the node has anyway) the probe rides on
 * its beats whenever no span is measured, busy or quiet, and runs every `PROBE_MS` on a timer of
 * its own only while a span (a snapshot) is measured. What that gives up: the reference taken
 * before a span (`loopDelayMaxBeforeMs`) samples the loop 20 times a second instead of 100, so a
 * hold shorter than the beat that falls between two beats is missed there (a wait for a core
 * shows as a late beat all the same); the span itself is probed at the full rate.
 *
 * Without a ticker the probe keeps a timer of its own: every `QUIET_PROBE_MS` while the node is
 * quiet (the process ran under `QUIET_SHARE` of a core over the last look's span, read once per
 * `QUIET_PROBE_MS`), every `PROBE_MS` at the first look that finds it busier, and for the whole of
 * a measured span; where the process's CPU cannot be read, every `PROBE_MS`.
 *
 * @module
 */

import process from "node:process";
import type { NodeTicker } from "./node_ticker.ts";

const PROBE_MS = 10;
/** The probe's period while the loop's thread is quiet; also how often it looks at the CPU. */
export const QUIET_PROBE_MS = 100;
/** The share of a core the process may use and still count as quiet (at rest: ~2%). */
export const QUIET_SHARE = 0.05;
const BUCKET_MS = 100;
const BUCKETS = 600;

export class LoopMonitor {
  /** Stops the probe's timer (its own interval, or its ride on the node's ticker). */
  #stopTimer: (() => void) | undefined;
  #ticker: NodeTicker | undefined;
  #last = 0;
  /** The probe's period now: `PROBE_MS`, `QUIET_PROBE_MS` or the ticker's beat (see the module doc). */
  #periodMs = PROBE_MS;
  /** When the probe last looked at the thread's CPU, and what it read then. */
  #lookAt = 0;
  #lookCpu: number | undefined;
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
    /**
     * What tells quiet from busy: the process's CPU (getrusage, ~3 µs), not the thread's
     * (`threadCpuMs` reads /proc in ~8 system calls, ~25 µs, to a scheduler tick).
     */
    readonly readQuietCpuMs: () => number | undefined = processCpuMs,
  ) {
    this.#lookAt = nowMs();
    this.#lookCpu = readQuietCpuMs();
  }

  /**
   * Starts probing (idempotent). With `ticker` (the node's, `node_ticker.ts`) the probe rides on
   * its beats but while a span is measured: no wake-up of its own then.
   */
  run(ticker?: NodeTicker): void {
    if (this.#stopTimer !== undefined) return;
    this.#ticker = ticker;
    this.#last = this.#lookAt = this.nowMs();
    this.#lookCpu = this.readQuietCpuMs();
    this.#arm(this.#measuring ? PROBE_MS : ticker?.beatMs ?? PROBE_MS);
  }

  stop(): void {
    this.#stopTimer?.();
    this.#stopTimer = undefined;
  }

  /** The probe's period now (tests). */
  get periodMs(): number {
    return this.#periodMs;
  }

  #arm(periodMs: number): void {
    this.#stopTimer?.();
    this.#periodMs = periodMs;
    const probe = () => this.probe(this.nowMs());
    if (periodMs !== PROBE_MS && this.#ticker !== undefined) {
      this.#stopTimer = this.#ticker.every(this.#ticker.beatMs, probe);
      return;
    }
    const timer = setInterval(probe, periodMs);
    Deno.unrefTimer(timer);
    this.#stopTimer = () => clearInterval(timer);
  }

  /** One look of the probe at `now` (its timer's callback; tests call it directly). */
  probe(now: number): void {
    this.record(now, now - this.#last - this.#periodMs);
    this.#last = now;
    if (this.#measuring) this.turn();
    // On the ticker the period changes only as a span begins and ends: no look at the CPU.
    if (this.#ticker !== undefined) return;
    if (now - this.#lookAt < QUIET_PROBE_MS - PROBE_MS / 2) return; // timers may fire a hair early
    const cpu = this.readQuietCpuMs();
    const quiet = !this.#measuring && cpu !== undefined && this.#lookCpu !== undefined &&
      cpu - this.#lookCpu < QUIET_SHARE * (now - this.#lookAt);
    this.#lookAt = now;
    this.#lookCpu = cpu;
    const periodMs = quiet ? QUIET_PROBE_MS : PROBE_MS;
    if (periodMs !== this.#periodMs && this.#stopTimer !== undefined) this.#arm(periodMs);
    else this.#periodMs = periodMs;
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
    // A measured span is probed at the full rate from its start.
    if (this.#periodMs !== PROBE_MS && this.#stopTimer !== undefined) {
      this.#last = this.#startedAt;
      this.#arm(PROBE_MS);
    }
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
    if (this.#stopTimer !== undefined) this.record(now, now - this.#last - this.#periodMs);
    this.turn();
    this.#measuring = false;
    // Back on the ticker's beats (the first of which records how late it came, as ever).
    if (this.#ticker !== undefined && this.#stopTimer !== undefined) {
      this.#last = now;
      this.#arm(this.#ticker.beatMs);
    }
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

/** The CPU time the whole process has run, in ms (`process.cpuUsage()`: getrusage). */
export function processCpuMs(): number | undefined {
  const usage = process.cpuUsage?.();
  return usage === undefined ? undefined : (usage.user + usage.system) / 1000;
}
