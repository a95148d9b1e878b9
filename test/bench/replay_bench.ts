/**
 * What a restart's replay of the log costs, per entry: `deno run -A test/bench/replay_bench.ts
 * --dir <a node's data directory> [--runs 5] [--out replay.cpuprofile]`.
 *
 * Copies the data directory (opening a log may cut a torn tail), restores its newest snapshot into
 * a fresh `BrokerMachine` as a restarted node does, then applies every entry of the log past it
 * from its bytes (decoded, as a replay does: nothing is the node's own entry), `--runs` times, each
 * into a fresh machine. Prints the CPU per entry and per proposal of each run and their median,
 * the ops the entries carry, the time spent per kind of entry (by the ops it carries), and with
 * `--out` writes a CPU profile of the last run (`test/bench/profile_summary.ts` lists it).
 *
 * A chaos run keeps its nodes' data with `QUORUMQ_CHAOS_KEEP=1` (under `test/chaos/runs/`): its
 * entries are receives, acks, transactions and publishes under sessions and Idempotency-Keys, the
 * replay F9 of test/chaos/FINDINGS.md measured at ~0.5 ms of CPU per entry.
 *
 * @module
 */

import { Session } from "node:inspector";
import process from "node:process";
import { slicePacer, unwrapSnapshot } from "../../cluster/node/mod.ts";
import { EntryKind } from "../../cluster/raft/mod.ts";
import { FileLogStore, FileSnapshotStore } from "../../cluster/storage/mod.ts";
import { decodeEntry } from "../../src/broker/envelope.ts";
import { BrokerMachine } from "../../src/server/mod.ts";

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : fallback;
}

const DIR = arg("dir", "");
const RUNS = Number(arg("runs", "5"));
const OUT = arg("out", "");
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
  const snap = await new FileSnapshotStore(`${copy}/snapshots`).load();
  const log = await FileLogStore.open(`${copy}/log`, { log: () => {} });
  const all = (await log.load()).entries;
  await log.close();
  const from = snap?.meta.index ?? 0;
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
    if (snap !== undefined) await machine.restore(unwrapSnapshot(snap.data).app, slicePacer());
    const last = run === RUNS - 1;
    if (last && OUT !== "") {
      session = new Session();
      session.connect();
      await post(session, "Profiler.enable");
      await post(session, "Profiler.setSamplingInterval", { interval: 100 });
      await post(session, "Profiler.start");
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
      const { profile } = await post<{ profile: unknown }>(session, "Profiler.stop");
      await Deno.writeTextFile(OUT, JSON.stringify(profile));
      session.disconnect();
    }
  }
  const sorted = [...cpuPerEntry].sort((a, b) => a - b);
  console.log(
    `median ${(1000 * sorted[Math.floor(sorted.length / 2)]).toFixed(1)} µs of CPU per entry ` +
      `(${RUNS} runs)`,
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
