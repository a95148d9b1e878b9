/**
 * Where a restart's CPU goes: `deno run -A test/bench/restore_profile.ts [--messages 1000000]`.
 * Builds a queue of N ready 256-byte messages with ids, saves its snapshot with the node's path
 * (`FileSnapshotStore.saveParts`), then profiles (V8's sampling profiler, through
 * `node:inspector`) what a restarted node does with it: `load` (read and verify the file),
 * `unwrapSnapshot` and the paced restore. Prints the functions with the most self time, and
 * writes the whole profile to `--out` (a `.cpuprofile`, for Chrome DevTools) if given.
 *
 * @module
 */

import { Session } from "node:inspector";
import process from "node:process";
import { slicePacer, snapshotParts, unwrapSnapshot } from "../../cluster/node/mod.ts";
import { FileSnapshotStore } from "../../cluster/storage/mod.ts";
import { BrokerMachine } from "../../src/server/mod.ts";

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : fallback;
}

const N = Number(arg("messages", "1000000"));
const OUT = arg("out", "");
const BODY = new Uint8Array(256).fill(120);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function post<T>(s: Session, method: string): Promise<T> {
  return new Promise((resolve, reject) =>
    s.post(method, (err: Error | null, r: unknown) => err ? reject(err) : resolve(r as T))
  );
}

const machine = new BrokerMachine();
let index = 0;
machine.state.apply(++index, { ts: 1, cmd: { op: "queue_put", queue: "q", options: {} } });
for (let k = 0; k < N; k += 50) {
  const messages = Array.from({ length: Math.min(50, N - k) }, (_, j) => ({
    id: `m${k + j}`,
    body: BODY,
  }));
  machine.state.apply(++index, { ts: 2, cmd: { op: "publish_batch", queue: "q", messages } });
}
const dir = await Deno.makeTempDir({ prefix: "qq_restore_profile_" });
try {
  const pace = slicePacer();
  const app = await (await machine.snapshot(pace)).serialize(pace);
  const conf = { voters: ["n1"], learners: [] };
  await new FileSnapshotStore(dir).saveParts(
    { index, term: 1, conf },
    snapshotParts([["n1", "http://127.0.0.1:8081"]], app),
  );

  const session = new Session();
  session.connect();
  await post(session, "Profiler.enable");
  await post(session, "Profiler.setSamplingInterval" as string).catch(() => {});
  await post(session, "Profiler.start");
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const data = (await new FileSnapshotStore(dir).load())!.data;
  const t1 = performance.now();
  const c1 = process.cpuUsage(c0);
  const restored = new BrokerMachine();
  await restored.restore(unwrapSnapshot(data).app, slicePacer());
  const t2 = performance.now();
  const c2 = process.cpuUsage(c0);
  const { profile } = await post<{ profile: Profile }>(session, "Profiler.stop");
  if (restored.state.queues.get("q")?.msgs.count !== N) throw new Error("restore lost messages");
  if (OUT) await Deno.writeTextFile(OUT, JSON.stringify(profile));

  const dt = new Map<number, number>();
  profile.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + profile.timeDeltas[i]));
  const self = new Map<string, number>();
  for (const n of profile.nodes) {
    const f = n.callFrame;
    const key = `${f.functionName || "(anon)"} ${f.url.split("/").slice(-2).join("/")}:${
      f.lineNumber + 1
    }`;
    self.set(key, (self.get(key) ?? 0) + (dt.get(n.id) ?? 0));
  }
  const cpu = (c: { user: number; system: number }) => ((c.user + c.system) / 1000).toFixed(0);
  console.log(
    `load ${(t1 - t0).toFixed(0)} ms (cpu ${cpu(c1)}), load + restore ${(t2 - t0).toFixed(0)} ms ` +
      `(cpu ${cpu(c2)}) at load average ${Deno.loadavg()[0]}`,
  );
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 25);
  for (const [k, us] of top) console.log(`${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
} finally {
  await Deno.remove(dir, { recursive: true });
}
