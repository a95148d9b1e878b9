/**
 * One node's restart on data it left, alone, in CPU: `deno run -A test/bench/node_replay_bench.ts
 * --data <a node's data dir> [--runs 5] [--main <a build's src/main.ts>]... [--v8-flags=...]`.
 *
 * Each run copies the data directory, starts one node on it with the launch commands' flags (as
 * `test/e2e/nodes.ts` does; `--v8-flags=` for V8's defaults), its peers named but never started,
 * and reads its log: the process CPU (`cpuMs`) when its storage is loaded (`node_started`), when
 * it listens, and when its replay reaches the commit it started with (`replay_committed`: what a
 * node applies before it hears a leader, most of a full restart's replay), then kills it. A node
 * alone measures its own restart without the other two replaying beside it on the same cores
 * (`restart_bench.ts` times the whole cluster's). With several `--main`, the runs alternate
 * between the builds; prints each run and, per build, the medians and the load.
 * `QQ_PROFILE_DIR` with `--main test/bench/profiled_main.ts` profiles each node's start (the
 * profile is written after `QQ_PROFILE_MS`, so set `QQ_PROFILE_READY=0` and a bound that covers
 * the replay; the run waits for the file).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { MALLOC_TUNABLES, V8_FLAGS } from "../../src/server/mod.ts";
import { freePorts, sleep } from "../e2e/nodes.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    data: { type: "string" },
    runs: { type: "string", default: "5" },
    main: { type: "string", multiple: true },
    "v8-flags": { type: "string" },
  },
});
if (values.data === undefined) {
  console.error("usage: node_replay_bench.ts --data <node data dir> [--runs 5] [--main ...]");
  Deno.exit(2);
}
const DATA = values.data;
const RUNS = Number(values.runs);
const DEFAULT_MAIN = new URL("../../src/main.ts", import.meta.url).pathname;
const MAINS = values.main?.length ? values.main : [DEFAULT_MAIN];
const V8 = values["v8-flags"] ?? V8_FLAGS;
const PROFILE_DIR = Deno.env.get("QQ_PROFILE_DIR");

interface Marks {
  started?: number;
  listening?: number;
  committed?: number;
  committedMs?: number;
  wallMs?: number;
}

async function run(main: string): Promise<Marks> {
  const dir = await Deno.makeTempDir({ prefix: "qq_node_replay_" });
  const [port, p2, p3] = freePorts(3);
  const profilesBefore = PROFILE_DIR === undefined ? 0 : [...Deno.readDirSync(PROFILE_DIR)].length;
  try {
    await new Deno.Command("cp", { args: ["-r", DATA, `${dir}/n1`] }).output();
    await new Deno.Command("sync").output();
    const t0 = performance.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...(V8 === "" ? [] : [`--v8-flags=${V8}`]),
        "--unstable-no-legacy-abort",
        "-A",
        main,
        "--id",
        "n1",
        "--listen",
        `127.0.0.1:${port}`,
        "--data",
        `${dir}/n1`,
        "--peers",
        `n1=http://127.0.0.1:${port},n2=http://127.0.0.1:${p2},n3=http://127.0.0.1:${p3}`,
        "--secret",
        "node-replay-bench",
        "--cluster-id",
        `node-replay-${crypto.randomUUID()}`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1", GLIBC_TUNABLES: MALLOC_TUNABLES },
    }).spawn();
    const marks: Marks = {};
    const decoder = new TextDecoder();
    let rest = "";
    const reader = child.stderr.getReader();
    const deadline = t0 + 120_000;
    for (let guard = 0; guard < 1e6 && performance.now() < deadline; guard++) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += decoder.decode(value, { stream: true });
      const lines = rest.split("\n");
      rest = lines.pop()!;
      for (const l of lines) {
        let e: Record<string, unknown>;
        try {
          e = JSON.parse(l);
        } catch {
          continue;
        }
        if (e.event === "node_started") marks.started = e.cpuMs as number;
        if (e.event === "node_listening") marks.listening = e.cpuMs as number;
        if (e.event === "replay_committed") {
          marks.committed = e.cpuMs as number;
          marks.committedMs = e.ms as number;
          marks.wallMs = performance.now() - t0;
        }
      }
      if (marks.committed !== undefined) break;
    }
    // With a profiling entry point, wait (bounded) for its profile before the kill.
    for (
      let i = 0;
      PROFILE_DIR !== undefined && i < 1200 &&
      [...Deno.readDirSync(PROFILE_DIR)].length === profilesBefore;
      i++
    ) await sleep(100);
    child.kill("SIGKILL");
    reader.releaseLock();
    await child.stderr.cancel().catch(() => {});
    await child.status;
    return marks;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const byMain = new Map<string, Marks[]>();
for (let r = 0; r < RUNS; r++) {
  for (const main of MAINS) {
    const load = Deno.loadavg()[0].toFixed(1);
    const m = await run(main);
    byMain.set(main, [...(byMain.get(main) ?? []), m]);
    console.log(
      `${main} run ${r + 1} (load ${load}): cpu ms at storage loaded ${m.started}, listening ` +
        `${m.listening}, replayed to the commit ${m.committed} (replay ${
          (m.committed ?? NaN) - (m.started ?? NaN)
        }); wall ${m.wallMs?.toFixed(0)} ms`,
    );
  }
}
for (const [main, ms] of byMain) {
  const pick = (f: (m: Marks) => number | undefined) =>
    median(ms.map((m) => f(m) ?? NaN)).toFixed(0);
  console.log(
    `${main}: medians of ${ms.length}, cpu ms: storage loaded ${pick((m) => m.started)}, ` +
      `listening ${pick((m) => m.listening)}, to the commit ${pick((m) => m.committed)}, ` +
      `replay (commit - loaded) ${pick((m) => (m.committed ?? NaN) - (m.started ?? NaN))}; ` +
      `wall to the commit ${pick((m) => m.wallMs)} ms`,
  );
}
