/**
 * What the hop of an asynchronous `fdatasync` costs: one `FileLogStore` appends `--count` entries
 * of `--bytes` each, one at a time, with `{ blocking: true }` (the sync on the calling thread)
 * and without (`syncData()`, on Deno's blocking pool: a duplicated descriptor, a pool thread
 * woken and the event loop woken back per append), alternating in `--rounds` rounds. Prints
 * this process's CPU per append (user + system, every thread) and the wall time per append.
 *
 * Usage: deno run -A test/bench/sync_hop_bench.ts [--count 1000] [--bytes 22000] [--rounds 6]
 *
 * @module
 */

import { parseArgs } from "node:util";
import process from "node:process";
import { FileLogStore } from "../../cluster/storage/mod.ts";
import { EntryKind } from "../../cluster/raft/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    count: { type: "string", default: "1000" },
    bytes: { type: "string", default: "22000" },
    rounds: { type: "string", default: "6" },
  },
});
const COUNT = Number(values.count);
const data = new Uint8Array(Number(values.bytes)).fill(7);
const dir = await Deno.makeTempDir({ prefix: "qq_sync_hop_" });
const log = await FileLogStore.open(dir, { log: () => {} });
const cpu: Record<string, number[]> = { async: [], blocking: [] };
const wall: Record<string, number[]> = { async: [], blocking: [] };
let index = 1;
try {
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const mode of round % 2 === 0 ? ["async", "blocking"] : ["blocking", "async"]) {
      const blocking = mode === "blocking";
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < COUNT; i++) {
        await log.append([{ index, term: 1, kind: EntryKind.Normal, data }], { blocking });
        index++;
      }
      const c1 = process.cpuUsage(c0);
      cpu[mode].push((c1.user + c1.system) / COUNT);
      wall[mode].push((performance.now() - t0) * 1000 / COUNT);
    }
  }
} finally {
  await log.close();
  await Deno.remove(dir, { recursive: true });
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const show = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(" ");
console.log(`${COUNT} appends of ${values.bytes} bytes per round; load ${Deno.loadavg()[0]}`);
for (const mode of ["async", "blocking"]) {
  console.log(
    `${mode}: CPU µs per append ${show(cpu[mode])} (median ${median(cpu[mode]).toFixed(0)}); ` +
      `wall µs per append median ${median(wall[mode]).toFixed(0)}`,
  );
}
