/**
 * Sequential publish through the leader, one request at a time, over three real quorumq nodes on
 * loopback with fsync on (256-byte bodies, one keep-alive HTTP connection). Besides p50/p90/p99
 * and the rate it reports the share of requests over 10 ms and when the slow ones came: a stall
 * in step with a timer (the links' 250 ms keepalive once cost two ~40 ms stalls per beat, Nagle
 * against delayed ACKs; see docs/transport.md) shows as a dominant interval between slow
 * requests, where random slow requests (a busy machine) show none.
 *
 * Usage: deno run -A test/bench/seq_publish_bench.ts [--runs 3] [--requests 10000]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes } from "../e2e/nodes.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    requests: { type: "string", default: "10000" },
  },
});
const RUNS = Number(values.runs);
const REQUESTS = Number(values.requests);
const SLOW_MS = 10;
const BODY = "x".repeat(256);
const JSON_HEADERS = { "content-type": "application/json" };

interface Run {
  readonly rate: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  /** Share of requests over SLOW_MS, in percent. */
  readonly slowPct: number;
  readonly slow: number;
  /** The most common gap between the starts of consecutive slow requests (10 ms bins). */
  readonly period: { ms: number; share: number } | undefined;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

/** The dominant gap between slow requests, in 10 ms bins, and the share of gaps in its bin. */
export function dominantPeriod(
  slowStarts: readonly number[],
): { ms: number; share: number } | undefined {
  if (slowStarts.length < 3) return undefined;
  const bins = new Map<number, number>();
  for (let i = 1; i < slowStarts.length; i++) {
    const bin = Math.round((slowStarts[i] - slowStarts[i - 1]) / 10) * 10;
    bins.set(bin, (bins.get(bin) ?? 0) + 1);
  }
  let best: [number, number] = [0, 0];
  for (const [bin, count] of bins) if (count > best[1]) best = [bin, count];
  return { ms: best[0], share: best[1] / (slowStarts.length - 1) };
}

async function sequential(base: string, q: string, n: number, idPrefix: string): Promise<Run> {
  const lat: number[] = [];
  const slowStarts: number[] = [];
  const url = `${base}/v1/queues/${q}/messages`;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const res = await fetch(url, {
      method: "POST",
      headers: JSON_HEADERS,
      body: JSON.stringify({ id: `${idPrefix}${i}`, body: BODY }),
    });
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`publish answered ${res.status}`);
    const ms = performance.now() - t;
    lat.push(ms);
    if (ms > SLOW_MS) slowStarts.push(t - t0);
  }
  const rate = n / ((performance.now() - t0) / 1000);
  const sorted = [...lat].sort((a, b) => a - b);
  return {
    rate,
    p50: pct(sorted, 0.5),
    p90: pct(sorted, 0.9),
    p99: pct(sorted, 0.99),
    slowPct: slowStarts.length / n * 100,
    slow: slowStarts.length,
    period: dominantPeriod(slowStarts),
  };
}

async function createQueue(base: string, q: string): Promise<void> {
  const res = await fetch(`${base}/v1/queues/${q}`, {
    method: "PUT",
    headers: JSON_HEADERS,
    body: "{}",
  });
  await res.body?.cancel();
  if (res.status >= 300) throw new Error(`create ${q}: ${res.status}`);
}

function describe(r: Run): string {
  const period = r.period === undefined
    ? "no period"
    : `slow ones mostly ${r.period.ms} ms apart (${(r.period.share * 100).toFixed(0)}% of gaps)`;
  return `${r.rate.toFixed(0)} msgs/s, p50 ${r.p50.toFixed(2)} ms, p90 ${r.p90.toFixed(2)} ms, ` +
    `p99 ${r.p99.toFixed(2)} ms, >${SLOW_MS} ms: ${r.slow} (${r.slowPct.toFixed(2)}%), ${period}`;
}

if (import.meta.main) {
  const load = await Deno.readTextFile("/proc/loadavg").catch(() => "?");
  const nodes = await Nodes.start({ count: 3, keepLogs: false });
  try {
    const runs: Run[] = [];
    for (let r = 0; r < RUNS; r++) {
      const base = nodes.url(await nodes.waitLeader());
      const q = `seq${r}`;
      await createQueue(base, q);
      // A short warm-up so JIT and the links' first frames are not in the figures.
      await sequential(base, q, Math.min(500, REQUESTS), "w");
      const run = await sequential(base, q, REQUESTS, "s");
      console.log(`run ${r + 1}/${RUNS}: ${describe(run)}`);
      runs.push(run);
    }
    const m = (f: (r: Run) => number) => median(runs.map(f));
    console.log(
      `sequential publish via the leader, ${REQUESTS} requests, median of ${RUNS}: ` +
        `${m((r) => r.rate).toFixed(0)} msgs/s, p50 ${m((r) => r.p50).toFixed(2)} ms, ` +
        `p90 ${m((r) => r.p90).toFixed(2)} ms, p99 ${m((r) => r.p99).toFixed(2)} ms, ` +
        `>${SLOW_MS} ms ${m((r) => r.slowPct).toFixed(2)}% ` +
        `(load average before: ${load.split(" ").slice(0, 3).join(" ")})`,
    );
  } finally {
    await nodes.stop();
  }
}
