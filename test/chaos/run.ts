/**
 * The chaos orchestrator: start N real nodes, run the workloads while the nemesis injects
 * faults, heal, drain, read every node's state on its own, then check the history.
 *
 * @module
 */

import { freePorts, Nodes } from "../e2e/nodes.ts";
import { Prng } from "../sim/prng.ts";
import { check, type CheckResult } from "./checker.ts";
import { History, type SourceStats } from "./history.ts";
import { type FaultKind, Nemesis, NET_FAULT_KINDS } from "./nemesis.ts";
import { NetLab } from "./netlab.ts";
import { Control } from "./workloads.ts";
import { type DrainStats, httpWork, mqttWork, type Work } from "./work.ts";
import type { MqttServer } from "./mqtt_workloads.ts";

export interface ChaosOptions {
  readonly nodes: 3 | 5;
  readonly durationMs: number;
  readonly seed: number;
  /** Where the history (and, on failure, the nodes' data and logs) are kept. */
  readonly runDir: string;
  /** Fault hold and gap ranges (ms); defaults suit a 60 s run with 10+ faults. */
  readonly holdMs?: readonly [number, number];
  readonly gapMs?: readonly [number, number];
  readonly kinds?: readonly FaultKind[];
  /** Spare ids for member replacement (each replacement uses one). Default 12. */
  readonly spares?: number;
  /** Live status (a line, a few times a second at most). */
  readonly status?: (line: string) => void;
  /** Progress notes (faults, phases). */
  readonly log?: (line: string) => void;
  /** Bound on the final drain. Default 120 s. */
  readonly drainMsMax?: number;
  /**
   * Where the nodes run. `netns`: each in its own network namespace (netlab.ts), which adds the
   * `net-*` fault kinds (iptables DROP rules); needs root, `ip` and `iptables`. `loopback`: all on
   * 127.0.0.1, link faults through the transport's seam only. `auto` (default): `netns` when
   * available, else `loopback` with the reason among `skipped`.
   */
  readonly network?: "auto" | "netns" | "loopback";
  /**
   * How the workers' requests travel: HTTP (default) or the stream (`/v1/stream`), both running
   * the queue and topic workloads (`workloads.ts`); or `mqtt`: the MQTT workload instead
   * (`mqtt_workloads.ts`), on the nodes' MQTT listeners.
   */
  readonly transport?: "http" | "stream" | "mqtt";
  /** `mqtt`: also cut each client's link every 2-6 s (`MqttContext.dropLinks`). Default true. */
  readonly mqttLinkCuts?: boolean;
}

export interface ChaosResult {
  readonly check: CheckResult;
  readonly historyPath: string;
  readonly nemesisErrors: readonly string[];
  /** What this run could not do here, with the reason (real partitions without root, say). */
  readonly skipped: readonly string[];
  /** Where the nodes ran. */
  readonly network: "netns" | "loopback";
  readonly elapsedMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs one chaos campaign; see the module doc. */
export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  await Deno.mkdir(opts.runDir, { recursive: true });
  const historyPath = `${opts.runDir}/history.jsonl`;
  const history = new History(historyPath);
  const main = await freezeCode(opts.runDir);
  const spareIds = Array.from({ length: opts.spares ?? 12 }, (_, i) => `n${opts.nodes + 1 + i}`);
  const skipped: string[] = [];
  const allIds = [...initialIds(opts.nodes), ...spareIds];
  const lab = await makeLab(opts, allIds, skipped, log);
  const mqttServer = mqttListeners(allIds, lab);
  const nodes = await startNodes(opts, main, lab, mqttServer);
  for (const id of spareIds) nodes.addId(id);
  const urls = nodes.allIds().map((id) => nodes.url(id));
  const hostToId = new Map(nodes.allIds().map((id) => [new URL(nodes.url(id)).host, id]));
  const nodeOf = (host: string) => hostToId.get(host) ?? host;
  const kinds = opts.kinds?.filter((k) => lab !== undefined || !NET_FAULT_KINDS.includes(k));
  if (kinds !== undefined && kinds.length === 0) {
    await nodes.stop();
    await lab?.destroy();
    throw new Error(`No fault kind left to run here (${skipped.join("; ")})`);
  }
  const prng = new Prng(opts.seed);
  // The consumers draw from their own stream, so the fault plan depends on the seed alone.
  const workPrng = new Prng(opts.seed ^ 0x5bd1e995);
  const nemesis = new Nemesis(
    nodes,
    history,
    prng,
    {
      holdMs: opts.holdMs ?? [1_500, 3_500],
      gapMs: opts.gapMs ?? [500, 1_500],
      kinds,
      ...(lab ? { net: lab } : {}),
    },
    spareIds,
    log,
  );
  let ok = false;
  try {
    const control = new Control();
    const live = () => nemesis.members.filter((m) => nodes.isLive(m));
    const drainStats: DrainStats = (sources, msMax) =>
      drainAll(nodes, nemesis.members, msMax, sources);
    const transport = opts.transport ?? "http";
    const work = transport === "mqtt"
      ? await mqttWork(history, control, {
        nodes,
        live,
        mqttServer,
        drainStats,
        linkCuts: opts.mqttLinkCuts ?? true,
      })
      : await httpWork(history, control, { urls, nodeOf, transport, workPrng, drainStats });
    const stopStatus = statusLoop(history, nemesis, started, opts.status);
    await sleep(1_000);
    nemesis.start();
    await sleep(Math.max(0, opts.durationMs - (Date.now() - started)));
    await finish(opts, { nodes, nemesis, history, control, work });
    stopStatus();
    await history.close();
    const result = check(history.events);
    ok = result.violations === 0;
    return {
      check: result,
      historyPath,
      nemesisErrors: nemesis.errors,
      skipped,
      network: lab === undefined ? "loopback" : "netns",
      elapsedMs: Date.now() - started,
    };
  } finally {
    await cleanUp(nodes, lab, opts.runDir, ok);
  }
}

/**
 * The end of a run: heal, let the producers stop (60 s at most), drain, stop the consumers (30 s
 * at most), read every member's state on its own, and look for nodes that died on their own.
 */
async function finish(
  opts: ChaosOptions,
  run: { nodes: Nodes; nemesis: Nemesis; history: History; control: Control; work: Work },
): Promise<void> {
  const { nodes, nemesis, history, control, work } = run;
  const log = opts.log ?? (() => {});
  log("healing");
  await nemesis.stop();
  await nemesis.heal();
  const healedAt = history.now();
  history.add({ type: "heal", t: healedAt });
  await sleep(5_000);
  await writeAcceptedSince(history, healedAt, 15_000);
  control.producing = false;
  await Promise.race([Promise.all(work.producers), sleep(60_000)]);
  log("draining");
  const drain = await work.drain(opts.drainMsMax ?? 120_000);
  history.add({ type: "drain", t: history.now(), ...drain });
  await work.afterDrain?.();
  control.consuming = false;
  await Promise.race([Promise.all(work.consumers), sleep(30_000)]);
  work.stop?.();
  log("reading every node's state");
  await recordStates(nodes, nemesis.members, history, work.statSources);
  nemesis.scanCrashes();
}

/**
 * Waits (`maxMs` at most) until a write invoked at `since` or later was accepted: the liveness
 * check looks for one after the final heal. Producers whose writes were all in flight across a
 * final power loss of every node (MQTT publishers: 8 each, answered only once the cluster is back,
 * ~6 s after the heal) invoked none in the 5 s before producing stopped, and the run was judged
 * "no write was accepted after the final heal" while the cluster accepted them (seed 160006).
 */
async function writeAcceptedSince(history: History, since: number, maxMs: number): Promise<void> {
  const invokedAt = new Map<number, number>();
  let next = 0;
  const end = Date.now() + maxMs;
  for (let i = 0; i < 10_000 && Date.now() < end; i++) {
    const events = history.events;
    for (; next < events.length; next++) {
      const e = events[next];
      if (e.type === "invoke" && e.op !== "receive" && e.op !== "read") invokedAt.set(e.opId, e.t);
      if (e.type === "complete" && e.outcome === "ok" && (invokedAt.get(e.opId) ?? -1) >= since) {
        return;
      }
    }
    await sleep(100);
  }
}

/**
 * Stops the nodes and removes the lab. A passing run's data, logs and code copy are removed;
 * a failing one keeps them, and QUORUMQ_CHAOS_KEEP=1 keeps a passing run's too (to study it).
 */
async function cleanUp(nodes: Nodes, lab: NetLab | undefined, runDir: string, ok: boolean) {
  const keep = Deno.env.get("QUORUMQ_CHAOS_KEEP") === "1";
  if (!ok || keep) await saveLogs(nodes, runDir);
  await nodes.stop();
  await lab?.destroy();
  if (ok && !keep) {
    await Deno.remove(`${runDir}/data`, { recursive: true }).catch(() => {});
    await Deno.remove(`${runDir}/logs`, { recursive: true }).catch(() => {});
    await Deno.remove(`${runDir}/code`, { recursive: true }).catch(() => {});
  }
}

/**
 * Starts the initial members from the frozen code (`main`), each with its MQTT listener where
 * `mqtt` says (spares too, when started); on failure, removes the lab.
 */
async function startNodes(
  opts: ChaosOptions,
  main: string,
  lab: NetLab | undefined,
  mqtt: (id: string) => MqttServer,
) {
  // Every incarnation of every node logs here (the summary's investigations need the ones
  // before the last restart too); removed with the data when the run passes.
  await Deno.mkdir(`${opts.runDir}/logs`, { recursive: true });
  try {
    return await Nodes.start({
      logDir: `${opts.runDir}/logs`,
      count: opts.nodes,
      testFaults: true,
      dataDir: `${opts.runDir}/data`,
      main,
      ...(lab ? { network: lab } : {}),
      ...(opts.transport !== "mqtt" ? {} : {
        env: (id: string) => ({ QUORUMQ_MQTT_LISTEN: `${mqtt(id).host}:${mqtt(id).port}` }),
      }),
    });
  } catch (e) {
    await lab?.destroy();
    throw e;
  }
}

/** Where each node's MQTT listener is (spares included): its host, a port free now. */
function mqttListeners(ids: readonly string[], lab: NetLab | undefined) {
  const ports = new Map(freePorts(ids.length).map((p, i) => [ids[i], p]));
  return (id: string): MqttServer => ({ host: lab?.host(id) ?? "127.0.0.1", port: ports.get(id)! });
}

/** The ids `Nodes` gives the initial members: n1..nN. */
function initialIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `n${i + 1}`);
}

/** The namespaces lab when the options ask for it and this machine allows it; see `network`. */
async function makeLab(
  opts: ChaosOptions,
  ids: readonly string[],
  skipped: string[],
  log: (line: string) => void,
): Promise<NetLab | undefined> {
  const want = opts.network ?? "auto";
  if (want === "loopback") {
    skipped.push("real network partitions (net-* kinds): --network loopback");
    return undefined;
  }
  const can = await NetLab.available();
  if (!can.ok) {
    if (want === "netns") throw new Error(`--network netns: ${can.reason}`);
    skipped.push(`real network partitions (net-* kinds): ${can.reason}`);
    return undefined;
  }
  const lab = await NetLab.create(ids);
  log(`network: ${ids.length} namespaces on bridge ${lab.bridge} (${lab.gateway}/24)`);
  return lab;
}

function statusLoop(
  history: History,
  nemesis: Nemesis,
  started: number,
  status?: (line: string) => void,
): () => void {
  if (status === undefined) return () => {};
  let seen = 0;
  let acked = 0;
  let unknown = 0;
  let faults = 0;
  const pending = new Map<number, number>();
  const timer = setInterval(() => {
    const ev = history.events;
    for (; seen < ev.length; seen++) {
      const e = ev[seen];
      if (e.type === "invoke" && (e.op === "publish" || e.op === "txn")) {
        pending.set(e.opId, e.messages.length);
      } else if (e.type === "complete") {
        if (e.outcome === "ok") acked += pending.get(e.opId) ?? 0;
        if (e.outcome === "unknown") unknown++;
        pending.delete(e.opId);
      } else if (e.type === "nemesis" && e.phase === "start") faults++;
    }
    const s = ((Date.now() - started) / 1000).toFixed(0);
    status(
      `[${s}s] acked ${acked} | unknown ${unknown} | faults ${faults} | members ${
        nemesis.members.join(",")
      }`,
    );
  }, 500);
  return () => clearInterval(timer);
}

/** Waits until every source has nothing ready, leased or delayed (read through the leader). */
async function drainAll(
  nodes: Nodes,
  members: readonly string[],
  drainMsMax: number,
  sources: readonly string[],
): Promise<{ done: boolean; detail: string }> {
  const deadline = Date.now() + drainMsMax;
  let detail = "";
  while (Date.now() < deadline) {
    try {
      const left: string[] = [];
      for (const source of sources) {
        const s = await sourceStats(undefined, source, { nodes, members });
        const n = s.ready + s.leased + s.delayed;
        if (n > 0) left.push(`${source} ${s.ready}/${s.leased}/${s.delayed}`);
      }
      if (left.length === 0) return { done: true, detail: "" };
      detail = `left (ready/leased/delayed): ${left.join(", ")}`;
    } catch (e) {
      detail = String((e as Error)?.message ?? e);
    }
    await sleep(1_000);
  }
  return { done: false, detail };
}

/** A source's stats from one node; with no node given, through any live member (linearizable). */
async function sourceStats(
  node: string | undefined,
  source: string,
  where: { nodes: Nodes; members: readonly string[] },
): Promise<SourceStats> {
  const path = source.startsWith("q:")
    ? `/v1/queues/${source.slice(2)}`
    : `/v1/topics/${source.slice(2).split("/")[0]}/subscriptions/${source.split("/")[1]}`;
  const ids = node === undefined ? where.members.filter((m) => where.nodes.isLive(m)) : [node];
  let last = "";
  for (const id of ids) {
    try {
      const q = node === undefined ? "" : "?consistency=stale";
      const res = await fetch(`${where.nodes.url(id)}${path}${q}`, {
        signal: AbortSignal.timeout(3_000),
      });
      const body = await res.json();
      if (!res.ok) {
        last = `${id}: ${res.status} ${JSON.stringify(body).slice(0, 200)}`;
        continue;
      }
      return {
        ready: body.ready ?? 0,
        leased: body.leased ?? 0,
        delayed: body.delayed ?? 0,
        published: body.published ?? 0,
        acked: body.acked ?? 0,
      };
    } catch (e) {
      last = `${id}: ${(e as Error)?.message ?? e}`;
    }
  }
  throw new Error(`Cannot read the stats of ${source}: ${last}`);
}

/**
 * Reads each member's applied index and stats on its own (`?consistency=stale`) until every
 * member reports one applied index twice in a row around its stats (bounded by 30 s), and records
 * the last reading of each.
 */
async function recordStates(
  nodes: Nodes,
  members: readonly string[],
  history: History,
  statSources: readonly string[],
) {
  const deadline = Date.now() + 30_000;
  let states: { node: string; appliedIndex: number; sources: Record<string, SourceStats> }[] = [];
  while (Date.now() < deadline) {
    states = [];
    for (const id of members) {
      try {
        const before = (await nodes.cluster(id, 2_000)).appliedIndex as number;
        const sources: Record<string, SourceStats> = {};
        for (const s of statSources) {
          sources[s] = await sourceStats(id, s, { nodes, members });
        }
        const after = (await nodes.cluster(id, 2_000)).appliedIndex as number;
        if (before === after) states.push({ node: id, appliedIndex: after, sources });
      } catch { /* retried below */ }
    }
    const indexes = new Set(states.map((s) => s.appliedIndex));
    if (states.length === members.length && indexes.size === 1) break;
    await sleep(500);
  }
  for (const s of states) history.add({ type: "state", t: history.now(), ...s });
  if (states.length < members.length) {
    const missing = members.filter((m) => !states.some((s) => s.node === m));
    history.add({
      type: "drain",
      t: history.now(),
      done: false,
      detail: `no stable state read from ${missing.join(",")}`,
    });
  }
}

async function saveLogs(nodes: Nodes, runDir: string): Promise<void> {
  for (const id of nodes.allIds()) {
    const text = nodes.logs(id);
    if (text) await Deno.writeTextFile(`${runDir}/${id}.log`, text).catch(() => {});
  }
}

/**
 * Copies `src/` and `cluster/` into `<runDir>/code/` and returns the copy's `src/main.ts`: a node
 * restarted mid-run runs the code the run started with, even while the tree changes under it
 * (a mixed-version cluster is a different experiment). The copy still resolves imports through
 * the repository's deno.json, found by walking up from it. Also writes `code/VERSION`: HEAD and
 * the files changed in the working tree.
 */
async function freezeCode(runDir: string): Promise<string> {
  const root = new URL("../../", import.meta.url).pathname;
  await Deno.mkdir(`${runDir}/code`, { recursive: true });
  const cp = await new Deno.Command("cp", {
    args: ["-r", `${root}src`, `${root}cluster`, `${runDir}/code/`],
  }).output();
  if (!cp.success) {
    throw new Error(`Cannot copy the code for the run: ${new TextDecoder().decode(cp.stderr)}`);
  }
  const git = (args: string[]) =>
    new Deno.Command("git", { args, cwd: root }).output().then((o) =>
      new TextDecoder().decode(o.stdout)
    );
  const version = `${await git(["rev-parse", "HEAD"])}${await git(["status", "--short"])}`;
  await Deno.writeTextFile(`${runDir}/code/VERSION`, version);
  return `${runDir}/code/src/main.ts`;
}
