/**
 * The Deno gateway (`src/edge_targets/deno.ts`) of this checkout or of `QQ_EDGE_CHECKOUT` (a
 * directory), for `edge_ab_bench.ts`: settings from the environment as the entry reads them, and,
 * with `QQ_PROFILE_DIR`, a V8 CPU profile (or `QQ_PROFILE_HEAP=1`: a sampling heap profile) of
 * the window from SIGUSR1 to SIGUSR2 (each pair writes one file, `edge-<ms>.cpuprofile`).
 *
 * @module
 */

import { inspectorProfiler } from "./_inspector_profiler.ts";
import { checkoutRoot } from "./_checkout.ts";

const root = checkoutRoot(Deno.env.get("QQ_EDGE_CHECKOUT") || undefined);
const dir = Deno.env.get("QQ_PROFILE_DIR");
if (dir !== undefined) {
  const heap = Deno.env.get("QQ_PROFILE_HEAP") === "1";
  const profiler = await inspectorProfiler({
    dir,
    name: "edge",
    heap,
    heapIntervalBytes: 1024,
    cpuIntervalUs: 100,
  });
  Deno.addSignalListener("SIGUSR1", () => profiler.report(profiler.start()));
  Deno.addSignalListener(
    "SIGUSR2",
    () => profiler.report(profiler.save().then(() => console.error(`profile written`))),
  );
}
const { serveEdge } = await import(`${root}src/edge_targets/deno.ts`);
const { edgeSettings } = await import(`${root}src/edge/mod.ts`);
serveEdge({
  settings: edgeSettings(Deno.env.toObject()),
  hostname: "127.0.0.1",
  port: Number(Deno.env.get("PORT")),
});
