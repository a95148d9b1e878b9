/**
 * What a node's event-loop thread does, read from outside the process (`startup_bench.ts`): its
 * main thread (the tid is the pid) sampled from /proc every few ms. Deno lets a node read these
 * files about itself only with every permission, which nodes do not have, so a bench reads them.
 *
 * @module
 */

import type { Nodes } from "../e2e/nodes.ts";

/** One reading of a node's main (event-loop) thread from /proc. */
export interface ThreadSample {
  readonly t: number;
  readonly id: string;
  /** Time on a core and waiting on the run queue for one, ns (`schedstat`). */
  readonly runNs: number;
  readonly waitNs: number;
  /** `R` running or runnable, `S` asleep, `D` in uninterruptible sleep (disk), ... */
  readonly state: string;
  /** Where in the kernel it sleeps (`do_epoll_wait`: the event loop idle). */
  readonly wchan: string;
}

/**
 * Every live node's event-loop thread (its main thread: the tid is the pid) read every few ms from
 * /proc while it runs: with the time of a node's worst late turn during a snapshot
 * (`loopDelayMaxAt`), it tells what the thread did while the turn was late: ran (JavaScript, the
 * collector's pauses on that thread, system calls' CPU), waited for a core, or slept elsewhere
 * than in the event loop's poll (a blocking system call, a lock, a page read from disk). Deno lets
 * a node read these files only with every permission, so the bench reads them.
 */
export class ThreadSampler {
  readonly samples: ThreadSample[] = [];
  #timer: ReturnType<typeof setInterval>;
  constructor(nodes: Nodes, everyMs = 4) {
    this.#timer = setInterval(() => {
      const t = performance.timeOrigin + performance.now();
      for (const id of nodes.live()) {
        const pid = nodes.pid(id);
        if (pid === undefined) continue;
        try {
          const dir = `/proc/${pid}/task/${pid}`;
          const [run, wait] = Deno.readTextFileSync(`${dir}/schedstat`).split(" ");
          const stat = Deno.readTextFileSync(`${dir}/stat`);
          const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
          const wchan = Deno.readTextFileSync(`${dir}/wchan`);
          this.samples.push({ t, id, runNs: Number(run), waitNs: Number(wait), state, wchan });
        } catch { /* the process just exited */ }
      }
    }, everyMs);
  }
  stop(): void {
    clearInterval(this.#timer);
  }

  /**
   * What node `id`'s thread did over the `ms` before `at` (epoch ms): ran, waited for a core, the
   * rest asleep; and the states it was seen in there (with where it slept, if not idle).
   */
  explain(id: string, at: number, ms: number): string {
    const mine = this.samples.filter((s) => s.id === id && s.t >= at - ms - 20 && s.t <= at + 20);
    if (mine.length < 2) return "no thread samples";
    const a = mine[0], b = mine[mine.length - 1];
    const wall = b.t - a.t;
    const run = (b.runNs - a.runNs) / 1e6, wait = (b.waitNs - a.waitNs) / 1e6;
    const seen = new Map<string, number>();
    for (const s of mine) {
      const k = s.state === "S" && s.wchan === "do_epoll_wait" ? "idle" : `${s.state}:${s.wchan}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    return `over ${wall.toFixed(0)} ms its thread ran ${run.toFixed(0)} ms, waited for a core ${
      wait.toFixed(0)
    } ms, slept ${(wall - run - wait).toFixed(0)} ms; seen ${
      [...seen].map(([k, n]) => `${k} ×${n}`).join(", ")
    }`;
  }
}
