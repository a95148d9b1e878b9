/**
 * What a restart's replay of the log costs, per entry: `deno run -A test/bench/replay_bench.ts
 * --dir <a node's data directory> [--runs 5] [--out replay.cpuprofile]`.
 *
 * Copies the data directory (opening a log may cut a torn tail), restores its newest snapshot into
 * a fresh `BrokerMachine` as a restarted node does, then applies every entry of the log past it
 * from its bytes (decoded, as a replay does: nothing is the node's own entry), `--runs` times, each
 * into a fresh machine. Prints the CPU per entry and per proposal of each run and their median,
 * the ops the entries carry, the time spent per kind of entry (by the ops it carries), and with
 * `--out` writes a CPU profile of the last run (its restore and apply) (`test/bench/profile_summary.ts` lists it).
 * `--per-op` then applies the log once more with every proposal as an entry of its own (decoded
 * beforehand, session ids renumbered to match) and prints the time each op takes, with its stored
 * answer where it has one. `--heap` makes `--out` a sampling heap profile (every allocation
 * sampled, collected ones too) instead.
 *
 * Before the runs it times, in CPU and wall, the phases of a node's start-up on that data as the
 * node does them: the log's open (list, read and verify every segment), its load (the entries in
 * memory), the snapshot's open (read through once to verify its CRC32C), and then per run the
 * snapshot's restore from the file, a window at a time (`restoreStored`, no pacing) and the
 * apply of the entries past it. `--runs 0` times only those start-up phases, once.
 *
 * A chaos run keeps its nodes' data with `QUORUMQ_CHAOS_KEEP=1` (under `test/chaos/runs/`): its
 * entries are receives, acks, transactions and publishes under sessions and Idempotency-Keys, the
 * replay F9 of test/chaos/FINDINGS.md measured at ~0.5 ms of CPU per entry.
 *
 * @module
 */

import { Session } from "node:inspector";
import process from "node:process";
import { checkoutRoot } from "./_checkout.ts";

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : fallback;
}

// `--checkout <dir>`: another checkout's code (its storage, broker and server), for an A/B.
const root = checkoutRoot(Deno.args.includes("--checkout") ? arg("checkout", "") : undefined);
const { noPace, slicePacer, unwrapSnapshot } = await import(
  `${root}cluster/node/mod.ts`
) as typeof import("../../cluster/node/mod.ts");
const { EntryKind } = await import(
  `${root}cluster/raft/mod.ts`
) as typeof import("../../cluster/raft/mod.ts");
const { FileLogStore, FileSnapshotStore } = await import(
  `${root}cluster/storage/mod.ts`
) as typeof import("../../cluster/storage/mod.ts");
const { decodeEntry } = await import(
  `${root}src/broker/mod.ts`
) as typeof import("../../src/broker/mod.ts");
const { BrokerMachine } = await import(
  `${root}src/server/mod.ts`
) as typeof import("../../src/server/mod.ts");
type FileSnapshotStore = InstanceType<typeof FileSnapshotStore>;

const DIR = arg("dir", "");
const RUNS = Number(arg("runs", "5"));
const OUT = arg("out", "");
const PER_OP = Deno.args.includes("--per-op");
/** `--heap`: `--out` gets a sampling heap profile (`.heapprofile`) instead of a CPU profile. */
const HEAP = Deno.args.includes("--heap");
if (DIR === "") {
  console.error("usage: replay_bench.ts --dir <data dir> [--runs 5] [--out file.cpuprofile]");
  Deno.exit(2);
}

function post<T>(s: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) =>
    s.post(
      method,
      params ?? {},
      (err: Error | null, r: unknown) => err ? reject(err) : resolve(r as T),
    )
  );
}

const copy = await Deno.makeTempDir({ prefix: "qq_replay_bench_" });
try {
  await new Deno.Command("cp", { args: ["-r", `${DIR}/log`, `${DIR}/snapshots`, copy] }).output();
  const phase = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const c0 = process.cpuUsage(), t0 = performance.now();
    const out = await f();
    const c = process.cpuUsage(c0);
    console.log(
      `phase ${name}: ${((c.user + c.system) / 1000).toFixed(0)} ms CPU, ` +
        `${(performance.now() - t0).toFixed(0)} ms wall`,
    );
    return out;
  };
  const log = await phase(
    "log open (scan + CRC)",
    () => FileLogStore.open(`${copy}/log`, { log: () => {} }),
  );
  const all = (await phase("log load (entries)", () => log.load())).entries;
  await log.close();
  const snapshots = new FileSnapshotStore(`${copy}/snapshots`);
  const opened = await phase("snapshot open (CRC)", () => snapshots.open());
  opened?.data.close();
  if (opened !== undefined) {
    console.log(
      `snapshot ${opened.meta.index}: ${(opened.data.byteLength / 1e6).toFixed(1)} MB`,
    );
  }
  const from = opened?.meta.index ?? 0;
  const entries = all.filter((e) => e.index > from && e.kind !== EntryKind.ConfChange);

  // What the entries carry.
  const ops = new Map<string, number>();
  const kindOf: string[] = [];
  let proposals = 0;
  let bytes = 0;
  for (const e of entries) {
    bytes += e.data.length;
    if (e.data.length === 0) {
      kindOf.push("(empty)");
      continue;
    }
    const d = decodeEntry(e.data);
    const here = new Set<string>();
    for (const p of d.items) {
      const op = p === undefined ? "(bad)" : p.cmd.op === "transaction" ? "transaction" : p.cmd.op;
      const tag = op +
        (p?.session !== undefined ? "+session" : p?.idem !== undefined ? "+idem" : "");
      ops.set(tag, (ops.get(tag) ?? 0) + 1);
      here.add(tag);
      proposals++;
    }
    kindOf.push([...here].sort().join(","));
  }
  console.log(
    `${entries.length} entries (${(bytes / 1e6).toFixed(1)} MB, ${proposals} proposals) after ` +
      `snapshot ${from}, load average ${Deno.loadavg().map((x) => x.toFixed(1)).join(" ")}`,
  );
  for (const [op, n] of [...ops].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${String(n).padStart(8)}  ${op}`);
  }

  const perKind = new Map<string, { n: number; ms: number }>();
  const cpuPerEntry: number[] = [];
  let session: Session | undefined;
  for (let run = 0; run < RUNS; run++) {
    const machine = new BrokerMachine();
    const last = run === RUNS - 1;
    if (last && OUT !== "") {
      session = new Session();
      session.connect();
      if (HEAP) {
        await post(session, "HeapProfiler.enable");
        await post(session, "HeapProfiler.startSampling", {
          samplingInterval: 4096,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        });
      } else {
        await post(session, "Profiler.enable");
        await post(session, "Profiler.setSamplingInterval", { interval: 100 });
        await post(session, "Profiler.start");
      }
    }
    if (opened !== undefined) {
      const stored = (await snapshots.open())!;
      await phase("snapshot restore", async () => {
        const app = unwrapSnapshot(stored.data).app;
        if (app instanceof Uint8Array) await machine.restore(app, noPace);
        else await machine.restoreStored(app, noPace);
      });
      stored.data.close();
    }
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (last) {
        const s = performance.now();
        machine.apply(e.index, e.data);
        const k = perKind.get(kindOf[i]) ?? { n: 0, ms: 0 };
        k.n++;
        k.ms += performance.now() - s;
        perKind.set(kindOf[i], k);
      } else machine.apply(e.index, e.data);
    }
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / 1000;
    cpuPerEntry.push(cpu / entries.length);
    console.log(
      `run ${run + 1}: ${wall.toFixed(0)} ms wall, ${cpu.toFixed(0)} ms CPU: ` +
        `${(1000 * cpu / entries.length).toFixed(1)} µs per entry, ` +
        `${(1000 * cpu / proposals).toFixed(1)} µs per proposal`,
    );
    if (session !== undefined) {
      const { profile } = await post<{ profile: unknown }>(
        session,
        HEAP ? "HeapProfiler.stopSampling" : "Profiler.stop",
      );
      await Deno.writeTextFile(OUT, JSON.stringify(profile));
      session.disconnect();
    }
  }
  if (PER_OP) perOp(opened && await snapshots.load(), entries);
  const sorted = [...cpuPerEntry].sort((a, b) => a - b);
  console.log(
    `median ${(1000 * sorted[Math.floor(sorted.length / 2)]).toFixed(1)} µs of CPU per entry, ` +
      `least ${(1000 * sorted[0]).toFixed(1)} (${RUNS} runs)`,
  );
  console.log("last run, wall time by what an entry carries:");
  for (const [k, v] of [...perKind].sort((a, b) => b[1].ms - a[1].ms).slice(0, 20)) {
    console.log(
      `  ${v.ms.toFixed(0).padStart(7)} ms  ${String(v.n).padStart(7)} entries  ` +
        `${(1000 * v.ms / v.n).toFixed(0).padStart(6)} µs each  ${k}`,
    );
  }
} finally {
  await Deno.remove(copy, { recursive: true });
}

/** Each proposal applied alone (see the module doc): wall time per op, a few repeats' median. */
async function perOp(
  snap: Awaited<ReturnType<FileSnapshotStore["load"]>>,
  entries: readonly { index: number; data: Uint8Array }[],
): Promise<void> {
  const byOp = new Map<string, number[]>();
  for (let rep = 0; rep < 3; rep++) {
    const machine = new BrokerMachine();
    if (snap !== undefined) await machine.restore(unwrapSnapshot(snap.data).app, slicePacer());
    const renumbered = new Map<number, number>();
    const times = new Map<string, number>();
    for (const e of entries) {
      const base = e.index * 1024;
      if (e.data.length === 0) {
        machine.state.applyEntry(base, e.data);
        continue;
      }
      const d = decodeEntry(e.data);
      d.items.forEach((p, k) => {
        if (p === undefined) return;
        const ref = p.session;
        const cmd = p.cmd as { op: string; session?: number };
        const renamed = {
          ...p,
          ...(ref === undefined
            ? {}
            : { session: { ...ref, id: renumbered.get(ref.id) ?? ref.id } }),
          cmd: cmd.session === undefined
            ? p.cmd
            : { ...cmd, session: renumbered.get(cmd.session) ?? cmd.session },
        } as typeof p;
        const s = performance.now();
        machine.state.apply(base + k, { ...d.stamp, ...renamed });
        const ms = performance.now() - s;
        if (p.cmd.op === "session_open") renumbered.set(e.index, base + k);
        times.set(p.cmd.op, (times.get(p.cmd.op) ?? 0) + ms);
      });
    }
    for (const [op, ms] of times) byOp.set(op, [...(byOp.get(op) ?? []), ms]);
  }
  console.log("each proposal alone, wall time by op (median of 3 passes):");
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const [op, xs] of [...byOp].sort((a, b) => med(b[1]) - med(a[1]))) {
    console.log(`  ${med(xs).toFixed(0).padStart(7)} ms  ${op}`);
  }
}
