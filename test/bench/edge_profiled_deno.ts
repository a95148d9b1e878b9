/**
 * The Deno gateway (`src/edge_targets/deno.ts`) of this checkout or of `QQ_EDGE_CHECKOUT` (a
 * directory), for `edge_ab_bench.ts`: settings from the environment as the entry reads them, and,
 * with `QQ_PROFILE_DIR`, a V8 CPU profile (or `QQ_PROFILE_HEAP=1`: a sampling heap profile) of
 * the window from SIGUSR1 to SIGUSR2 (each pair writes one file, `edge-<ms>.cpuprofile`).
 *
 * @module
 */

import { Session } from "node:inspector";
import { checkoutRoot } from "./_checkout.ts";

const root = checkoutRoot(Deno.env.get("QQ_EDGE_CHECKOUT") || undefined);
const dir = Deno.env.get("QQ_PROFILE_DIR");
if (dir !== undefined) {
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params?: object) =>
    new Promise<T>((resolve, reject) =>
      session.post(
        method,
        params ?? {},
        (err: Error | null, r: unknown) => err ? reject(err) : resolve(r as T),
      )
    );
  const heap = Deno.env.get("QQ_PROFILE_HEAP") === "1";
  await post(heap ? "HeapProfiler.enable" : "Profiler.enable");
  const report = (p: Promise<unknown>) => p.catch((e) => console.error(e));
  Deno.addSignalListener("SIGUSR1", () =>
    void report(
      heap
        ? post("HeapProfiler.startSampling", {
          samplingInterval: 1024,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        })
        : post("Profiler.setSamplingInterval", { interval: 100 }).then(() =>
          post("Profiler.start")
        ),
    ));
  Deno.addSignalListener("SIGUSR2", () =>
    void report((async () => {
      const { profile } = await post<{ profile: unknown }>(
        heap ? "HeapProfiler.stopSampling" : "Profiler.stop",
      );
      const ext = heap ? "heapprofile" : "cpuprofile";
      await Deno.writeTextFile(`${dir}/edge-${Date.now()}.${ext}`, JSON.stringify(profile));
      console.error(`profile written`);
    })()));
}
const { serveEdge } = await import(`${root}src/edge_targets/deno.ts`);
const { edgeSettings } = await import(`${root}src/edge/mod.ts`);
serveEdge({
  settings: edgeSettings(Deno.env.toObject()),
  hostname: "127.0.0.1",
  port: Number(Deno.env.get("PORT")),
});
