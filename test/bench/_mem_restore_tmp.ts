import { slicePacer, snapshotParts, unwrapSnapshot } from "../../cluster/node/mod.ts";
import { FileSnapshotStore } from "../../cluster/storage/mod.ts";
import { BrokerMachine } from "../../src/server/mod.ts";
const MB = 1 << 20;
const gc = (globalThis as { gc?: () => void }).gc;
function rep(label: string) {
  const m = Deno.memoryUsage();
  const st = Deno.readTextFileSync("/proc/self/status");
  const rss = Number(/VmRSS:\s+(\d+)/.exec(st)![1]) / 1024;
  console.log(`${label}: rss ${rss.toFixed(0)} heapUsed ${(m.heapUsed / MB).toFixed(0)} heapTotal ${(m.heapTotal / MB).toFixed(0)} external ${(m.external / MB).toFixed(0)}`);
}
const dir = "/tmp/rss/snapdir";
const N = 1_000_000;
if (Deno.args[0] === "make") {
  const machine = new BrokerMachine();
  let index = 0;
  const BODY = new Uint8Array(256).fill(120);
  machine.state.apply(++index, { ts: 1, cmd: { op: "queue_put", queue: "q", options: {} } });
  for (let k = 0; k < N; k += 50) {
    const messages = Array.from({ length: Math.min(50, N - k) }, (_, j) => ({ id: `m${k + j}`, body: BODY }));
    machine.state.apply(++index, { ts: 2, cmd: { op: "publish_batch", queue: "q", messages } });
  }
  await Deno.mkdir(dir, { recursive: true });
  const pace = slicePacer();
  const app = await (await machine.snapshot(pace)).serialize(pace);
  await new FileSnapshotStore(dir).saveParts({ index, term: 1, conf: { voters: ["n1"], learners: [] } }, snapshotParts([["n1", "http://127.0.0.1:8081"]], app));
  Deno.exit(0);
}
rep("start");
const data = (await new FileSnapshotStore(dir).load())!.data;
rep("loaded");
const restored = new BrokerMachine();
await restored.restore(unwrapSnapshot(data).app, slicePacer());
(data.buffer as ArrayBuffer).transfer(0);
rep("restored");
await new Promise((r) => setTimeout(r, 2000));
rep("2s later");
if (gc) { let t=performance.now(); gc(); console.log("gc ms", performance.now()-t); rep("after gc"); t=performance.now(); gc(); console.log("gc2 ms", performance.now()-t);}
if (Deno.args.includes("snap")) {
  const pace = slicePacer();
  const app = await (await restored.snapshot(pace)).serialize(pace);
  rep(`serialized ${app.length}`);
  await new Promise((r) => setTimeout(r, 2000));
  rep("2s later");
  if (gc) { gc(); rep("after gc"); }
}
console.log(restored.state.queues.get("q")?.msgs.count);
