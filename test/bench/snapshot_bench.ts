/**
 * How long snapshot work holds the event loop: `deno run -A test/bench/snapshot_bench.ts
 * [--sizes 40000,400000]`. For a queue of N ready 256-byte messages it runs the node's real
 * snapshot path (`BrokerMachine` snapshot → paced serialize → `snapshotParts` →
 * `FileSnapshotStore.saveParts`, then `load` → `unwrapSnapshot` → paced restore) with the real
 * `slicePacer`,
 * while a probe (a MessageChannel ping-pong) records the longest gap between its turns: the
 * longest synchronous slice anything else on the loop (ticks, sockets, HTTP) had to wait.
 *
 * Capture works in paced steps too (the driver applies nothing meanwhile, so it sees one applied
 * index); the probe covers it along with encoding and saving. Messages carry ids, as in the
 * issue's start-up scenario (their dedup records are part of the state).
 *
 * @module
 */

import process from "node:process";
import { slicePacer, snapshotParts, unwrapSnapshot } from "../../cluster/node/mod.ts";
import { FileSnapshotStore } from "../../cluster/storage/mod.ts";
import { BrokerMachine } from "../../src/server/mod.ts";
import { snapshotBytes } from "../../src/broker/mod.ts";

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : fallback;
}

const sizes = arg("sizes", "40000,400000,1000000").split(",").map(Number);
const BODY = new Uint8Array(256).fill(120);

function build(n: number): BrokerMachine {
  const m = new BrokerMachine();
  let i = 0;
  m.state.apply(++i, { ts: 1, cmd: { op: "queue_put", queue: "q", options: {} } });
  m.state.apply(++i, { ts: 1, cmd: { op: "queue_put", queue: "ref", options: {} } });
  for (let k = 0; k < n; k += 50) {
    const messages = Array.from({ length: Math.min(50, n - k) }, (_, j) => ({
      id: `m${k + j}`,
      body: BODY,
    }));
    m.state.apply(++i, { ts: 2, cmd: { op: "publish_batch", queue: "q", messages } });
  }
  return m;
}

/** The longest and the 99th-percentile gap between a probe's turns of the event loop, in ms. */
interface Gaps {
  longest: number;
  p99: number;
}

/**
 * Starts a probe of the event loop; the returned function stops it and gives its gaps. The probe
 * is a MessageChannel ping-pong: a macrotask that, unlike a `setTimeout(0)` chain (clamped to
 * ~4 ms once nested), comes round on every turn of the loop, so a gap is one synchronous slice.
 */
function probe(): () => Promise<Gaps> {
  let last = performance.now();
  const gaps: number[] = [];
  let on = true;
  const channel = new MessageChannel();
  channel.port1.onmessage = () => {
    const now = performance.now();
    gaps.push(now - last);
    last = now;
    if (on) channel.port2.postMessage(0);
  };
  channel.port2.postMessage(0);
  return async () => {
    on = false;
    await new Promise((r) => setTimeout(r, 5));
    channel.port1.close();
    gaps.sort((a, b) => a - b);
    return { longest: gaps.at(-1) ?? 0, p99: gaps[Math.floor(gaps.length * 0.99)] ?? 0 };
  };
}

/**
 * The reference: the loop's gaps while the same state only applies publishes (batches of 200
 * entries, a turn of the loop between batches, as a busy node would). What remains of a
 * snapshot's gaps above this comes from the snapshot; what does not is GC and CPU contention.
 */
async function applyGaps(machine: BrokerMachine, entries: number): Promise<Gaps> {
  const stop = probe();
  let index = machine.state.lastIndex;
  for (let done = 0; done < entries; done += 200) {
    for (let k = 0; k < 200; k++) {
      machine.state.apply(++index, {
        ts: 3,
        cmd: { op: "publish", queue: "ref", message: { body: BODY } },
      });
    }
    await new Promise((r) => setTimeout(r, 0));
  }
  return await stop();
}

const settle = () => new Promise((r) => setTimeout(r, 30));
const ms = (x: number) => Math.round(x * 10) / 10;
const urls: [string, string][] = [["n1", "http://127.0.0.1:8081"]];

for (const n of sizes) {
  const machine = build(n);
  const dir = await Deno.makeTempDir({ prefix: "qq_snap_bench_" });
  try {
    await settle();
    const stopSave = probe();
    await settle();
    const pace = slicePacer();
    const t0 = performance.now();
    const view = await machine.snapshot(pace);
    const t1 = performance.now();
    const app = await view.serialize(pace);
    const t2 = performance.now();
    const parts = snapshotParts(urls, app);
    const t3 = performance.now();
    const conf = { voters: ["n1"], learners: [] };
    await new FileSnapshotStore(dir).saveParts({ index: n + 1, term: 1, conf }, parts);
    const t4 = performance.now();
    const data = (await new FileSnapshotStore(dir).load())!.data;
    const saveGaps = await stopSave();

    // On a separate queue, after the snapshot: the captured state is not changed by it.
    const applyRef = await applyGaps(machine, 20_000);

    const restored = new BrokerMachine();
    const stopRestore = probe();
    await settle();
    const t5 = performance.now();
    const cpu5 = process.cpuUsage();
    await restored.restore(unwrapSnapshot(data).app, slicePacer());
    const t6 = performance.now();
    const cpu6 = process.cpuUsage(cpu5);
    const restoreGaps = await stopRestore();
    if (restored.state.queues.get("q")?.msgs.count !== n) {
      throw new Error(`Cannot check the bench: the restored queue lacks messages`);
    }
    console.log(JSON.stringify({
      messages: n,
      snapshotBytes: data.length,
      captureMs: ms(t1 - t0),
      serializeMs: ms(t2 - t1),
      partsMs: ms(t3 - t2),
      saveMs: ms(t4 - t3),
      totalMs: ms(t4 - t0),
      longestSliceCaptureSaveMs: ms(saveGaps.longest),
      p99SliceCaptureSaveMs: ms(saveGaps.p99),
      restoreMs: ms(t6 - t5),
      // CPU of every thread (the GC's too): what the restore costs on an idle machine.
      restoreCpuMs: ms((cpu6.user + cpu6.system) / 1000),
      longestSliceRestoreMs: ms(restoreGaps.longest),
      p99SliceRestoreMs: ms(restoreGaps.p99),
      longestGapApplyingMs: ms(applyRef.longest),
      p99GapApplyingMs: ms(applyRef.p99),
      // Wall-clock slices include time this process waited for a core: note the load.
      loadAvg1m: Deno.loadavg()[0],
    }));
    // Exactness: the restored state encodes to the very bytes it was restored from.
    if (n <= 100_000) {
      const a = unwrapSnapshot(data).app, b = snapshotBytes(restored.state);
      if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
        throw new Error("Cannot check the bench: the restored state differs");
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
