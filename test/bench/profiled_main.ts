/**
 * A node entry point that records CPU profiles, for finding where a node spends its time.
 *
 * - Start-up (default): `QQ_PROFILE_DIR=/tmp/prof deno run -A test/bench/startup_bench.ts --runs 1
 *   --main test/bench/profiled_main.ts`. Every node it starts (the restarted ones too) profiles
 *   its start and writes the profile once its `/readyz` answers 200 (polled every 100 ms on its
 *   `--listen` address, plain HTTP) or after `QQ_PROFILE_MS` ms (60,000 by default), then runs on.
 * - The first `QQ_PROFILE_MS` ms whatever the readiness (`QQ_PROFILE_READY=0`): a node under a
 *   benchmark's load (`mqtt_bench.ts --main test/bench/profiled_main.ts`).
 * - A window from SIGUSR1 to SIGUSR2 (`QQ_PROFILE_SIGNALS=1`; each pair writes one file), for
 *   profiling a node under load (`test/bench/pubcpu_bench.ts --profile`).
 * - `QQ_PROFILE_HEAP=1` with any of these: V8's sampling heap profiler instead of the CPU profiler
 *   (every allocation sampled, collected ones too), written as `.heapprofile` (DevTools opens it).
 * - A window toggled by SIGUSR2 (`QQ_PROFILE_ON=signal`): nothing is recorded until the node gets
 *   SIGUSR2; the next SIGUSR2 writes the profile (and the one after starts a new one). A
 *   benchmark signals every node around the part it measures (`consume_bench.ts --profile`).
 *
 * Profiles are `<dir>/<node id>-<ms since epoch>.cpuprofile` (V8's sampling profiler through
 * `node:inspector`; open one in Chrome DevTools, or summarize it with
 * `test/bench/profile_summary.ts`). Without `QQ_PROFILE_DIR` this is `src/main.ts`.
 *
 * @module
 */

import { inspectorProfiler } from "./_inspector_profiler.ts";

const dir = Deno.env.get("QQ_PROFILE_DIR");
if (dir !== undefined) {
  const id = Deno.args[Deno.args.indexOf("--id") + 1] ?? "node";
  // QQ_PROFILE_HEAP=1: V8's sampling heap profiler instead (what allocates, by call stack).
  const heap = Deno.env.get("QQ_PROFILE_HEAP") === "1";
  const { start, save, report } = await inspectorProfiler({
    dir,
    name: id,
    heap,
    heapIntervalBytes: 4096,
  });
  if (Deno.env.get("QQ_PROFILE_SIGNALS") === "1") {
    Deno.addSignalListener("SIGUSR1", () => report(start()));
    Deno.addSignalListener("SIGUSR2", () => report(save()));
  } else if (Deno.env.get("QQ_PROFILE_ON") === "signal") {
    let running = false;
    Deno.addSignalListener("SIGUSR2", () => {
      running = !running;
      report(running ? start() : save());
    });
  } else {
    await start();
    const listen = Deno.args[Deno.args.indexOf("--listen") + 1];
    const until = Date.now() + Number(Deno.env.get("QQ_PROFILE_MS") ?? 60_000);
    const ready = async () => {
      const res = await fetch(`http://${listen}/readyz`).catch(() => undefined);
      await res?.body?.cancel();
      return res?.status === 200;
    };
    // QQ_PROFILE_READY=0: the whole run up to QQ_PROFILE_MS, not only until ready (a load's profile).
    const toReady = Deno.env.get("QQ_PROFILE_READY") !== "0";
    (async () => {
      while (Date.now() < until && (!toReady || !(await ready()))) {
        await new Promise((r) => setTimeout(r, 100));
      }
      await save();
    })();
  }
}
await import("../../src/main.ts");
