/**
 * Start-up and snapshots with a large state, over three real quorumq nodes on loopback with
 * fsync on: `deno run -A test/bench/startup_bench.ts [--messages 1000000] [--runs 3]
 * [--main <path to another checkout's src/main.ts>] [--v8-flags <flags>]` (`--main` runs another
 * build's nodes, for a before/after; `--v8-flags` replaces the nodes' `V8_FLAGS`, "" for none).
 *
 * It builds one backlog of `--messages` ready 256-byte messages published with ids: most in
 * batches of `--batch` (few entries, so building is quick), the last `--tail` one per request,
 * so the log holds both kinds of entry and the nodes take a snapshot of (about) the whole state
 * along the way. Then, over that backlog:
 * - snapshot: the worst event-loop delay while each node took its snapshot (`loopDelayMaxMs`
 *   of `snapshot_taken`, measured in the node), and whether any election happened meanwhile;
 * - RSS of every node in each phase, sampled every 100 ms from /proc: its peak while the backlog
 *   is built, while the snapshots are taken, during the follower restarts and the full restarts,
 *   and where it settles after each (5 s after the phase, then again after `--settle` seconds
 *   at the end), with the V8 heap and external memory (array buffers) at each settled point;
 * - follower restart: a follower SIGKILLed and restarted, time until `/readyz` answers 200 and
 *   a linearizable read through it shows every message;
 * - full restart: all three SIGKILLed at once and restarted, time until the first publish is
 *   acknowledged and until every node answers `/readyz` 200.
 *
 * Targets (docs/reliability.md item 11): follower ≤ 5 s; full restart: publish ≤ 10 s, all ready ≤ 15 s; RSS ≤ 600
 * MB per node; snapshot delay ≤ 50 ms and no election.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes, sleep } from "../e2e/nodes.ts";
import { ThreadSampler } from "./thread_sampler.ts";
import { rssMB, RssSampler } from "./_rss.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    messages: { type: "string", default: "1000000" },
    batch: { type: "string", default: "50" },
    tail: { type: "string", default: "20000" },
    // Seconds to wait at the end before the last RSS reading (an idle node's late collections).
    settle: { type: "string", default: "10" },
    // NAME=VALUE added to every node's environment (repeatable), e.g. DENO_V8_FLAGS=... or
    // glibc's MALLOC_* tunables, to try a setting without changing the build.
    env: { type: "string", multiple: true, default: [] },
    // The nodes' V8 flags in place of the launch commands' `V8_FLAGS` (src/server/memory.ts), to
    // compare settings in one sitting; empty runs them with V8's defaults. (`--env
    // DENO_V8_FLAGS=...` cannot undo a flag: Deno applies the command line's after it.)
    "v8-flags": { type: "string" },
    // Another build's node entry point (its `src/main.ts`), to measure before and after a change
    // in one sitting.
    main: { type: "string" },
  },
});
const RUNS = Number(values.runs);
const MESSAGES = Number(values.messages);
const BATCH = Number(values.batch);
const TAIL = Math.min(MESSAGES, Number(values.tail));
const SETTLE_S = Number(values.settle);
const NODE_ENV: Record<string, string> = Object.fromEntries(
  values.env.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
);
const BODY = "x".repeat(256);
const JSON_HEADERS = { "content-type": "application/json" };
const QUEUE = "backlog";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs: number[], digits = 0) => xs.map((x) => x.toFixed(digits)).join(", ");
const progress = (text: string) =>
  Deno.stderr.writeSync(new TextEncoder().encode(`\r${text}                    `));

async function post(url: string, body: unknown, timeoutMs = 30_000): Promise<Response> {
  return await fetch(url, {
    method: "POST",
    headers: JSON_HEADERS,
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
}

/** Publishes ids `from..to-1`, `batch` per request, `lanes` requests in flight; retries. */
async function publish(base: () => string, from: number, to: number, batch: number, lanes: number) {
  let next = from;
  await Promise.all(Array.from({ length: lanes }, async () => {
    while (next < to) {
      const start = next;
      const end = Math.min(to, start + batch);
      next = end;
      const body = batch === 1 ? { id: `m${start}`, body: BODY } : {
        messages: Array.from({ length: end - start }, (_, k) => ({
          id: `m${start + k}`,
          body: BODY,
        })),
      };
      for (let attempt = 0;; attempt++) {
        const res = await post(`${base()}/v1/queues/${QUEUE}/messages`, body).catch(() => null);
        await res?.body?.cancel();
        if (res && res.status < 300) break;
        if (attempt > 50) throw new Error(`publish of m${start} failed: ${res?.status}`);
        await sleep(200);
      }
      if (start % 50_000 < batch) progress(`backlog: ${start} published`);
    }
  }));
}

async function ready(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(500) });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Ready messages in the queue by a linearizable read through `url`, or -1. */
async function readyCount(url: string): Promise<number> {
  try {
    const res = await fetch(`${url}/v1/queues/${QUEUE}`, { signal: AbortSignal.timeout(2000) });
    if (res.status !== 200) {
      await res.body?.cancel();
      return -1;
    }
    const j = await res.json() as { ready: number };
    return j.ready;
  } catch {
    return -1;
  }
}

/** A node's V8 heap in use and its external memory (array buffers), in MB, from /metrics. */
async function heapMB(url: string): Promise<string> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const get = (kind: string) =>
    Number(
      new RegExp(`quorumq_process_memory_bytes\\{[^}]*kind="${kind}"[^}]*\\} (\\d+)`).exec(text)
        ?.[1] ?? 0,
    ) /
    (1 << 20);
  return `heap ${get("heap_used").toFixed(0)} + external ${get("external").toFixed(0)}`;
}

interface LogLine {
  event: string;
  [k: string]: unknown;
}

interface SnapshotTaken {
  index: number;
  bytes: number;
  captureMs: number;
  ms: number;
  loopDelayMaxMs: number;
  loopDelayMaxBeforeMs: number;
  /** The most CPU the node's event-loop thread ran between two turns (absent off Linux). */
  loopBusyMaxMs?: number;
  /** When the worst late turn came (absent from older builds). */
  loopDelayMaxAt?: string;
  /** Memory at the snapshot's end, and (`start`) at its start; absent from older builds. */
  rssMB?: number;
  heapMB?: number;
  externalMB?: number;
  start?: { rssMB?: number; heapMB?: number; externalMB?: number; logHeldMB?: number };
  time: string;
}

function events(nodes: Nodes, id: string, event: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of nodes.logs(id).split("\n")) {
    if (!line.includes(`"${event}"`)) continue;
    try {
      const j = JSON.parse(line) as LogLine;
      if (j.event === event) out.push(j);
    } catch { /* a line cut across chunks */ }
  }
  return out;
}

async function waitUntil(what: string, ms: number, f: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await f()) return;
    await sleep(50);
  }
  throw new Error(`timed out: ${what}`);
}

async function electionsOf(nodes: Nodes): Promise<number> {
  let total = 0;
  for (const id of nodes.live()) {
    const res = await fetch(`${nodes.url(id)}/metrics`);
    const text = await res.text();
    total += Number(/quorumq_raft_elections_total\{[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
  }
  return total;
}

/**
 * Where a restart's time went on node `id`: ms from `t0` (a `Date.now()`) to its first log line,
 * storage loaded (`node_started`), `node_listening`, `snapshot_restored`, and its first leader.
 */
function timeline(nodes: Nodes, id: string, t0: number): string {
  const at = (event: string) => {
    const e = events(nodes, id, event)[0];
    if (e === undefined) return "-";
    const cpu = e.cpuMs === undefined ? "" : ` (cpu ${e.cpuMs})`;
    return `${Date.parse(e.time as string) - t0}${cpu}`;
  };
  const first = nodes.logs(id).split("\n")[0];
  let up = "-";
  try {
    up = String(Date.parse((JSON.parse(first) as { time: string }).time) - t0);
  } catch { /* no line yet */ }
  return `${id}: up ${up}, storage loaded ${at("node_started")}, listening ${
    at("node_listening")
  }, restored ${at("snapshot_restored")}, leader known ${at("leader_changed")} ms`;
}

/** SIGKILL a follower, restart it: ms until it is ready and a linearizable read sees all. */
async function followerRestart(nodes: Nodes, total: number): Promise<number> {
  const leader = await nodes.waitLeader();
  const f = nodes.ids.find((id) => id !== leader)!;
  await nodes.kill(f);
  const t0 = performance.now(), wall = Date.now();
  nodes.spawn(f);
  await waitUntil(`${f} ready with every message`, 180_000, async () => {
    return await ready(nodes.url(f)) && await readyCount(nodes.url(f)) === total;
  });
  const ms = performance.now() - t0;
  console.log(`  follower restart ${ms.toFixed(0)} ms; ${timeline(nodes, f, wall)}`);
  return ms;
}

/** SIGKILL all, restart all: ms until a publish is acknowledged, and until every node is ready. */
async function fullRestart(
  nodes: Nodes,
  run: number,
): Promise<{ publish: number; allReady: number }> {
  await Promise.all(nodes.ids.map((id) => nodes.kill(id)));
  const t0 = performance.now(), wall = Date.now();
  for (const id of nodes.ids) nodes.spawn(id);
  let publishMs = 0;
  const published = (async () => {
    for (let i = 0; i < 100_000; i++) {
      const url = nodes.url(nodes.ids[i % 3]);
      const res = await post(`${url}/v1/queues/probe/messages`, {
        id: `r${run}-${i}`,
        body: "p",
      }, 1000).catch(() => null);
      await res?.body?.cancel();
      if (res?.status === 201 || res?.status === 200) {
        publishMs = performance.now() - t0;
        return;
      }
      await sleep(50);
    }
    throw new Error("no publish acknowledged");
  })();
  const allReady = (async () => {
    await Promise.all(
      nodes.ids.map((id) => waitUntil(`${id} ready`, 180_000, () => ready(nodes.url(id)))),
    );
    return performance.now() - t0;
  })();
  const [readyMs] = await Promise.all([allReady, published]);
  console.log(
    `  full restart: publish ${publishMs.toFixed(0)} ms, all ready ${readyMs.toFixed(0)} ms`,
  );
  for (const id of nodes.ids) console.log(`    ${timeline(nodes, id, wall)}`);
  return { publish: publishMs, allReady: readyMs };
}

const nodes = await Nodes.start({
  count: 3,
  keepLogs: true,
  ...(values.main ? { main: values.main } : {}),
  ...(values["v8-flags"] !== undefined ? { v8Flags: values["v8-flags"] } : {}),
  env: () => NODE_ENV,
});
try {
  const leader = await nodes.waitLeader();
  const base = () => nodes.url(leader);
  for (const q of [QUEUE, "probe"]) {
    const res = await fetch(`${base()}/v1/queues/${q}`, {
      method: "PUT",
      headers: JSON_HEADERS,
      body: "{}",
    });
    await res.body?.cancel();
  }
  const elections0 = await electionsOf(nodes);
  const sampler = new RssSampler(nodes);
  const threads = new ThreadSampler(nodes);
  /** [phase, peak per node, settled per node or undefined, heap/external or undefined] */
  const phases: [string, number[], number[] | undefined, string[] | undefined][] = [];
  let phaseStart = Date.now();
  const peaks = () => nodes.ids.map((id) => sampler.peak(id, phaseStart, Date.now()));
  /**
   * Ends a phase: its peak, then the RSS and heap 5 s later (a node collects its garbage once
   * it has been quiet for two seconds: src/server/memory.ts).
   */
  const settled = async (name: string) => {
    const peak = peaks();
    await sleep(5000);
    const now = nodes.ids.map((id) => rssMB(nodes.pid(id)!));
    const heap = await Promise.all(nodes.ids.map((id) => heapMB(nodes.url(id))));
    phases.push([name, peak, now, heap]);
    phaseStart = Date.now();
  };
  const buildStart = Date.now();
  const b0 = performance.now();
  await publish(base, 0, MESSAGES - TAIL, BATCH, 16);
  await publish(base, MESSAGES - TAIL, MESSAGES, 1, 64);
  const buildS = (performance.now() - b0) / 1000;
  phases.push(["building the backlog", peaks(), undefined, undefined]);
  phaseStart = Date.now();
  progress("waiting for every node's snapshot");
  // A small backlog (--quick) may hold too few entries for a snapshot: then none is reported.
  await waitUntil("a snapshot on every node", 120_000, () =>
    Promise.resolve(
      nodes.ids.every((id) => events(nodes, id, "snapshot_taken").length > 0),
    )).catch(() => {});
  threads.stop();
  const elections1 = await electionsOf(nodes);
  // Now, while the logs are still those of the processes that built the backlog.
  const leaderChanges = nodes.ids.flatMap((id) =>
    events(nodes, id, "leader_changed").filter((e) => Date.parse(e.time as string) > buildStart)
      .map((e) => `  leader change seen by ${id} at ${e.time}: ${e.leaderId || "none"} (${e.role})`)
  );
  const snaps = nodes.ids.flatMap((id) => {
    const starts = events(nodes, id, "snapshot_started") as SnapshotTaken["start"][];
    return (events(nodes, id, "snapshot_taken") as unknown as SnapshotTaken[])
      .map((e, k) => ({ id, ...e, start: starts[k] }));
  });
  /** "rss R MB (heap H + external E)" of a log line with memory figures, else "". */
  const memory = (m: SnapshotTaken["start"]) =>
    m?.rssMB === undefined
      ? "?"
      : `rss ${m.rssMB} MB (heap ${m.heapMB} + external ${m.externalMB}${
        m.logHeldMB === undefined ? "" : `; Raft log in memory ${m.logHeldMB}`
      })`;
  // Each node's own snapshots, each from its `snapshot_started` to its `snapshot_taken`: the
  // worst peak during one, and, to tell a snapshot's own share, the worst over as long a span
  // just before each.
  const snapSpans = nodes.ids.map((id) => {
    const starts = events(nodes, id, "snapshot_started"),
      ends = events(nodes, id, "snapshot_taken");
    return ends.map((end, k) => ({
      from: Date.parse(starts[k].time as string),
      to: Date.parse(end.time as string),
    }));
  });
  phases.push([
    "each node's snapshots (during)",
    nodes.ids.map((id, i) =>
      Math.max(0, ...snapSpans[i].map((s) => sampler.peak(id, s.from, s.to)))
    ),
    undefined,
    undefined,
  ]);
  phases.push([
    "as long just before each of them",
    nodes.ids.map((id, i) =>
      Math.max(0, ...snapSpans[i].map((s) => sampler.peak(id, 2 * s.from - s.to, s.from)))
    ),
    undefined,
    undefined,
  ]);
  await settled("after building and snapshots (the last publish to every node's snapshot)");
  await sleep(SETTLE_S * 1000);
  await settled(`idle ${SETTLE_S} s more`);

  const followers: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    progress(`follower restart ${r + 1}/${RUNS}`);
    followers.push(await followerRestart(nodes, MESSAGES));
  }
  await settled("follower restarts");
  const fulls: { publish: number; allReady: number }[] = [];
  for (let r = 0; r < RUNS; r++) {
    progress(`full restart ${r + 1}/${RUNS}`);
    fulls.push(await fullRestart(nodes, r));
    await nodes.waitLeader();
  }
  await settled("full restarts");
  progress(`settling ${SETTLE_S} s`);
  await sleep(SETTLE_S * 1000);
  await settled(`idle ${SETTLE_S} s more`);
  sampler.stop();
  Deno.stderr.writeSync(new TextEncoder().encode("\n"));

  const lines = [
    `backlog: ${MESSAGES} × 256 B with ids (${MESSAGES - TAIL} in batches of ${BATCH}, ${TAIL} ` +
    `one per request) built in ${buildS.toFixed(0)} s`,
    ...snaps.map((s) =>
      `snapshot on ${s.id} at index ${s.index}: ${(s.bytes / 1e6).toFixed(0)} MB, ` +
      `capture ${s.captureMs} ms, whole ${s.ms} ms, worst event-loop delay ${s.loopDelayMaxMs} ms ` +
      (s.loopBusyMaxMs === undefined
        ? ""
        : `(longest run of its loop thread between two turns: ${s.loopBusyMaxMs} ms) `) +
      `(as long just before it: ${s.loopDelayMaxBeforeMs} ms), taken at ${s.time}` +
      (s.loopDelayMaxAt === undefined
        ? ""
        : `; the worst turn came at ${s.loopDelayMaxAt}: ${
          threads.explain(s.id, Date.parse(s.loopDelayMaxAt), s.loopDelayMaxMs)
        }`) +
      (s.rssMB === undefined ? "" : `; at its start ${memory(s.start)}, at its end ${memory(s)}`)
    ),
    `elections while building and snapshotting: ${elections1 - elections0}`,
    ...leaderChanges,
    `RSS per node (${nodes.ids.join(", ")}), MB: peak during the phase / settled 5 s after it`,
    ...phases.map(([name, peak, now, heap]) =>
      `  ${name}: peak ${fmt(peak)}` +
      (now === undefined ? "" : ` / settled ${fmt(now)} (${heap!.join("; ")})`)
    ),
    `  full collections when quiet (memory_collected), ms each: ${
      nodes.ids.map((id) =>
        `${id} ${events(nodes, id, "memory_collected").map((e) => e.ms).join(", ") || "none"}`
      ).join("; ")
    } (the current processes' only)`,
    `  worst peak ${Math.max(...phases.flatMap(([, p]) => p)).toFixed(0)}, worst settled ${
      Math.max(...phases.flatMap(([, , n]) => n ?? [])).toFixed(0)
    }`,
    `follower SIGKILL + restart → ready and a linearizable read shows all: median ${
      median(followers).toFixed(0)
    } ms (runs: ${fmt(followers)})`,
    `all SIGKILLed + restarted → first publish acknowledged: median ${
      median(fulls.map((f) => f.publish)).toFixed(0)
    } ms (runs: ${fmt(fulls.map((f) => f.publish))}); every node ready: median ${
      median(fulls.map((f) => f.allReady)).toFixed(0)
    } ms (runs: ${fmt(fulls.map((f) => f.allReady))})`,
  ];
  for (const l of lines) console.log(l);
} finally {
  await nodes.stop();
}
