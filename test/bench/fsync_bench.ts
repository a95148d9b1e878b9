/**
 * Storage benchmark: fdatasync latency of small appends, group-commit throughput with 64
 * concurrent appenders, hard state save latency, and the open (verify) speed of a large log.
 * Each figure is the median of RUNS runs. Run: `deno run -A test/bench/fsync_bench.ts [dir]`.
 *
 * @module
 */

import { type Entry, EntryKind } from "../../cluster/raft/mod.ts";
import { FileHardStateStore, FileLogStore } from "../../cluster/storage/mod.ts";

const RUNS = 5;
const ENTRY_BYTES = 256;
const SEQUENTIAL_APPENDS = 500;
const APPENDERS = 64;
const GROUP_MS = 2000;
const OPEN_ENTRIES = 200_000;

const payload = Uint8Array.from({ length: ENTRY_BYTES }, (_, i) => i & 0xff);
const entry = (index: number): Entry => ({ index, term: 1, kind: EntryKind.Normal, data: payload });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

async function inTempDir<T>(root: string | undefined, f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ dir: root, prefix: "qq_bench_" });
  try {
    return await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** One 256-byte entry per append, each awaited: the latency of one write + fdatasync. */
async function sequentialLatency(dir: string): Promise<{ p50: number; p99: number }> {
  const log = await FileLogStore.open(dir);
  const ms: number[] = [];
  for (let i = 1; i <= SEQUENTIAL_APPENDS; i++) {
    const t0 = performance.now();
    await log.append([entry(i)]);
    ms.push(performance.now() - t0);
  }
  await log.close();
  return { p50: pct(ms, 0.5), p99: pct(ms, 0.99) };
}

/** 64 appenders, one entry per call, for GROUP_MS: entries/s and entries per fsync. */
async function groupCommit(dir: string): Promise<{ perSec: number; perSync: number }> {
  let syncs = 0;
  const log = await FileLogStore.open(dir, { beforeSync: () => void syncs++ });
  let next = 1;
  const t0 = performance.now();
  const deadline = t0 + GROUP_MS;
  const appender = async () => {
    while (performance.now() < deadline) await log.append([entry(next++)]);
  };
  await Promise.all(Array.from({ length: APPENDERS }, appender));
  const s = (performance.now() - t0) / 1000;
  await log.close();
  return { perSec: (next - 1) / s, perSync: (next - 1) / syncs };
}

async function hardStateLatency(dir: string): Promise<{ p50: number; p99: number }> {
  const store = new FileHardStateStore(dir);
  const ms: number[] = [];
  for (let term = 1; term <= 200; term++) {
    const t0 = performance.now();
    await store.save({ term, vote: "n1", commit: term });
    ms.push(performance.now() - t0);
  }
  return { p50: pct(ms, 0.5), p99: pct(ms, 0.99) };
}

/** Write OPEN_ENTRIES entries in big batches, then time open() (scan + verify every record). */
async function openSpeed(dir: string): Promise<{ ms: number; mbPerSec: number; loadMs: number }> {
  const log = await FileLogStore.open(dir);
  for (let i = 1; i <= OPEN_ENTRIES; i += 1000) {
    await log.append(Array.from({ length: 1000 }, (_, k) => entry(i + k)));
  }
  await log.close();
  let bytes = 0;
  for await (const e of Deno.readDir(dir)) bytes += (await Deno.stat(`${dir}/${e.name}`)).size;
  const t0 = performance.now();
  const reopened = await FileLogStore.open(dir);
  const ms = performance.now() - t0;
  if (reopened.lastIndex() !== OPEN_ENTRIES) throw new Error("open lost entries");
  const t1 = performance.now();
  const { entries } = await reopened.load();
  const loadMs = performance.now() - t1;
  if (entries.length !== OPEN_ENTRIES) throw new Error("load lost entries");
  await reopened.close();
  return { ms, mbPerSec: bytes / 1e6 / (ms / 1000), loadMs };
}

async function main(): Promise<void> {
  const root = Deno.args[0];
  const seq = [], group = [], hs = [], open = [];
  for (let r = 0; r < RUNS; r++) {
    seq.push(await inTempDir(root, sequentialLatency));
    group.push(await inTempDir(root, groupCommit));
    hs.push(await inTempDir(root, hardStateLatency));
    open.push(await inTempDir(root, openSpeed));
  }
  const f = (n: number, d = 2) => n.toFixed(d);
  console.log(
    `fsync_bench: median of ${RUNS} runs, ${ENTRY_BYTES}-byte entries, dir ${root ?? "(tmp)"}`,
  );
  console.log(
    `  append 1 entry + fdatasync: p50 ${f(median(seq.map((x) => x.p50)))} ms, ` +
      `p99 ${f(median(seq.map((x) => x.p99)))} ms (${SEQUENTIAL_APPENDS} sequential appends)`,
  );
  console.log(
    `  group commit, ${APPENDERS} appenders: ${
      f(median(group.map((x) => x.perSec)), 0)
    } entries/s, ` +
      `${f(median(group.map((x) => x.perSync)), 1)} entries per fsync`,
  );
  console.log(
    `  hard state save (tmp+fdatasync+rename+dir fsync): p50 ${
      f(median(hs.map((x) => x.p50)))
    } ms, ` +
      `p99 ${f(median(hs.map((x) => x.p99)))} ms`,
  );
  console.log(
    `  open ${OPEN_ENTRIES} entries (verify every record): ${
      f(median(open.map((x) => x.ms)), 0)
    } ms, ` +
      `${f(median(open.map((x) => x.mbPerSec)), 0)} MB/s; then load() ` +
      `${f(median(open.map((x) => x.loadMs)), 0)} ms`,
  );
}

if (import.meta.main) await main();
