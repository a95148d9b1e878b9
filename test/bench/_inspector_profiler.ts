/**
 * A V8 CPU profile (or a sampling heap profile) of this process through `node:inspector`, for the
 * benches' profiled entries (`profiled_main.ts`, `edge_profiled_deno.ts`): `start` begins one,
 * `save` ends it and writes `<dir>/<name>-<ms>.cpuprofile` (or `.heapprofile`).
 *
 * @module
 */

import { Session } from "node:inspector";

export interface ProfilerOptions {
  readonly dir: string;
  /** The file name's start. */
  readonly name: string;
  /** A sampling heap profile (what allocates, by call stack) instead of a CPU profile. */
  readonly heap: boolean;
  /** The heap profile's sampling interval, bytes. */
  readonly heapIntervalBytes: number;
  /** The CPU profile's sampling interval, µs (undefined: V8's default). */
  readonly cpuIntervalUs?: number;
}

/** Enables the profiler; `start` and `save` as above. */
export async function inspectorProfiler(o: ProfilerOptions) {
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
  await post(o.heap ? "HeapProfiler.enable" : "Profiler.enable");
  const start = async () => {
    if (o.heap) {
      await post("HeapProfiler.startSampling", {
        samplingInterval: o.heapIntervalBytes,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
      return;
    }
    if (o.cpuIntervalUs !== undefined) {
      await post("Profiler.setSamplingInterval", { interval: o.cpuIntervalUs });
    }
    await post("Profiler.start");
  };
  const save = async () => {
    const { profile } = await post<{ profile: unknown }>(
      o.heap ? "HeapProfiler.stopSampling" : "Profiler.stop",
    );
    const ext = o.heap ? "heapprofile" : "cpuprofile";
    await Deno.writeTextFile(`${o.dir}/${o.name}-${Date.now()}.${ext}`, JSON.stringify(profile));
  };
  /** Runs `p`, logging its failure (a signal handler has no one to throw to). */
  const report = (p: Promise<unknown>) => void p.catch((e) => console.error(e));
  return { start, save, report };
}
