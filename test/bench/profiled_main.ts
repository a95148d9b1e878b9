/**
 * A node entry point that records a CPU profile of the node's start, until it is ready, for
 * finding where a start or a restart spends its time: `QQ_PROFILE_DIR=/tmp/prof deno run -A
 * test/bench/startup_bench.ts --runs 1 --main test/bench/profiled_main.ts`. Every node it starts
 * (the restarted ones too) writes `<dir>/<node id>-<ms since epoch>.cpuprofile` (V8's sampling
 * profiler through `node:inspector`; open it in Chrome DevTools, or summarize it with
 * `test/bench/profile_summary.ts`) once its `/readyz` answers 200 (polled every 100 ms on its
 * `--listen` address, plain HTTP) or after `QQ_PROFILE_MS` ms (60,000 by default), then runs on.
 * With `QQ_PROFILE_READY=0` it profiles the first `QQ_PROFILE_MS` ms whatever the readiness: a
 * node under a benchmark's load (`mqtt_bench.ts --main test/bench/profiled_main.ts`).
 * Without `QQ_PROFILE_DIR` it is `src/main.ts`.
 *
 * @module
 */

import { Session } from "node:inspector";

const dir = Deno.env.get("QQ_PROFILE_DIR");
if (dir !== undefined) {
  const id = Deno.args[Deno.args.indexOf("--id") + 1] ?? "node";
  const session = new Session();
  session.connect();
  const post = <T>(method: string) =>
    new Promise<T>((resolve, reject) =>
      session.post(method, (err: Error | null, r: unknown) => err ? reject(err) : resolve(r as T))
    );
  await post("Profiler.enable");
  await post("Profiler.start");
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
    const { profile } = await post<{ profile: unknown }>("Profiler.stop");
    await Deno.writeTextFile(`${dir}/${id}-${Date.now()}.cpuprofile`, JSON.stringify(profile));
  })();
}
await import("../../src/main.ts");
