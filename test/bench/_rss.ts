/**
 * Resident memory of real node processes, read from /proc: one reading (`rssMB`) and a sampler of
 * every live node of a harness (`RssSampler`), shared by the benches that watch a cluster's memory.
 *
 * @module
 */

import type { Nodes } from "../e2e/nodes.ts";

export function rssMB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/**
 * Every live node's RSS sampled every 100 ms, kept with its time: the peak per node over any
 * span of wall time (a phase, or one node's snapshot). A restarted process counts as its node.
 */
export class RssSampler {
  readonly #samples: { t: number; id: string; mb: number }[] = [];
  #timer: ReturnType<typeof setInterval>;
  constructor(nodes: Nodes) {
    this.#timer = setInterval(() => {
      const t = Date.now();
      for (const id of nodes.live()) {
        const pid = nodes.pid(id);
        if (pid === undefined) continue;
        try {
          this.#samples.push({ t, id, mb: rssMB(pid) });
        } catch { /* the process just exited */ }
      }
    }, 100);
  }
  /** The peak of node `id` from `from` to `to` (Date.now() times), 0 without a sample. */
  peak(id: string, from: number, to: number): number {
    let max = 0;
    for (const s of this.#samples) {
      if (s.id === id && s.t >= from && s.t <= to) max = Math.max(max, s.mb);
    }
    return max;
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}
