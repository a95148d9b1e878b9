/**
 * What the log's zeros ahead buy on this disk (docs/storage.md, "Zeros ahead"): the latency of an
 * append followed by `fdatasync`, written over zeros already synced ("zeros"), past the end of the
 * file ("grow"), and into a hole made by `ftruncate` ("hole", what extending without writing
 * would give); for 300-byte appends and 30 KB ones (a 100-message batch publish). Then the wall
 * time of writing 1 MiB of zeros on the calling thread (what each MiB of log cost the main thread
 * before the zeros moved to a worker thread). Each line is one run of `--appends` appends.
 *
 * Usage: deno run -A test/bench/prealloc_bench.ts [--dir d] [--appends 300] [--runs 3]
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    dir: { type: "string" },
    appends: { type: "string", default: "300" },
    runs: { type: "string", default: "3" },
  },
});
const APPENDS = Number(values.appends);
const RUNS = Number(values.runs);

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  for (let w = 0; w < bytes.length;) w += file.writeSync(bytes.subarray(w));
}

async function appends(dir: string, mode: string, size: number): Promise<string> {
  const path = `${dir}/${mode}_${size}`;
  const f = await Deno.open(path, { read: true, write: true, create: true, truncate: true });
  try {
    const total = size * APPENDS + 4096;
    if (mode === "zeros") {
      writeAllSync(f, new Uint8Array(total));
      await f.syncData();
      f.seekSync(0, Deno.SeekMode.Start);
    } else if (mode === "hole") {
      await f.truncate(total);
      await f.sync();
    }
    const record = new Uint8Array(size).fill(7);
    const ms: number[] = [];
    for (let i = 0; i < APPENDS; i++) {
      const t0 = performance.now();
      writeAllSync(f, record);
      await f.syncData();
      ms.push(performance.now() - t0);
    }
    const fmt = (p: number) => pct(ms, p).toFixed(3);
    return `${mode.padEnd(5)} ${String(size).padStart(5)} B: p50 ${fmt(0.5)} p90 ${fmt(0.9)} ` +
      `p99 ${fmt(0.99)} ms`;
  } finally {
    f.close();
    await Deno.remove(path);
  }
}

const dir = await Deno.makeTempDir({ dir: values.dir, prefix: "qq_prealloc_" });
try {
  console.log(`load average: ${Deno.loadavg().join(" ")}`);
  for (let r = 0; r < RUNS; r++) {
    for (const size of [300, 30_000]) {
      for (const mode of ["zeros", "grow", "hole"]) console.log(await appends(dir, mode, size));
    }
  }
  const f = await Deno.open(`${dir}/zeros`, { write: true, create: true });
  const zeros = new Uint8Array(64 * 1024);
  const reps = 64;
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) {
    for (let k = 0; k < 16; k++) writeAllSync(f, zeros);
  }
  console.log(
    `1 MiB of zeros in 64 KiB writes: ${((performance.now() - t0) / reps).toFixed(3)} ms`,
  );
  f.close();
} finally {
  await Deno.remove(dir, { recursive: true });
}
