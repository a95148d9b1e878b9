/**
 * Where `workerd`'s CPU per publish goes in the edge gateway (docs/edge.md, "Measured"): the
 * real Worker beside three that each do a part of its work and answer the node's own publish
 * answer themselves (`edge_floor_worker.ts`): `bare` (`workerd` reading a request and answering:
 * the floor no gateway code can go below), `gateway` (the gateway's code, answered in the
 * request), `handoff` (that, handed to the isolate's host request), and the gateway (that, over
 * the stream to the leader of three nodes); and the same floor and gateway in Deno (`deno bare`:
 * `Deno.serve` answering by itself, `edge_floor_deno.ts`; the Deno gateway). For each: the
 * gateway process's CPU ms per publish with 64 clients (Linux `/proc`), their messages per
 * second, and sequential publish p50; the targets take turns in `--rounds` rounds (the order
 * rotating), medians. The leader itself is measured too (p50 and rate; its CPU is not the
 * gateway's). Each runtime's `bare` floor is measured twice: as fast as it answers, and paced to
 * its gateway's last measured rate (the same requests per second as the gateway serves, with the
 * same client, lanes and body), since a server's CPU per request moves with its rate.
 *
 * Answers other than 201 are counted and printed, not thrown (a `workerd` isolate answered every
 * handed-off call 500 after ~17,000 of them before `crossRequestPromise`: docs/edge.md, "The 500
 * fault, found").
 *
 * Usage: deno run -A test/bench/edge_floor_bench.ts [--rounds 5] [--messages 2000]
 *   [--sequential 200] [--storage memory|fsync]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes } from "../e2e/nodes.ts";
import {
  bundleWorker,
  type RunningEdge,
  startEdge,
  workerdBinary,
} from "../../src/edge_targets/run.ts";
import { workerdConfig } from "../../src/edge_targets/workerd_config.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    messages: { type: "string", default: "2000" },
    sequential: { type: "string", default: "200" },
    storage: { type: "string", default: "memory" },
  },
});
const ROUNDS = Number(values.rounds);
const MESSAGES = Number(values.messages);
const SEQUENTIAL = Number(values.sequential);
const BODY = JSON.stringify({ body: "x".repeat(256) });
const LANES = 64;
if (values.storage !== "fsync" && values.storage !== "memory") {
  throw new Error(`--storage must be fsync or memory, not ${values.storage}`);
}

interface Target {
  readonly name: string;
  readonly url: string;
  readonly pid: number | undefined;
  /**
   * A floor run at this target's rate (its last measured one), not as fast as it answers: the
   * same requests per second, so per-request CPU is compared at the gateway's own rate.
   */
  readonly pacedAs?: Target;
}

/** Answers other than 201 per target URL: counted and printed, not thrown (docs/edge.md). */
const failed = new Map<string, number>();

/** One publish, read as `edge_bench.ts` reads it (the answer's text, no clone). */
async function publish(url: string): Promise<{ headers: Headers; text: string }> {
  const res = await fetch(`${url}/v1/queues/floor/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: BODY,
  });
  const text = await res.text();
  if (res.status !== 201) failed.set(url, (failed.get(url) ?? 0) + 1);
  return { headers: res.headers, text };
}

/** CPU time (user + system, ms) a process has used so far; NaN where `/proc` is not there. */
function cpuMs(pid: number | undefined): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10; // clock ticks of 10 ms
  } catch {
    return NaN;
  }
}

/**
 * `n` publishes by the 64 lanes; with `perSecond`, no faster than that (publish k starts no
 * sooner than k / perSecond after the first): a floor paced to a gateway's rate.
 */
async function lanes(url: string, n: number, perSecond?: number): Promise<void> {
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: LANES }, async () => {
    while (next < n) {
      const k = next++;
      if (perSecond !== undefined) {
        const wait = start + k / perSecond * 1000 - performance.now();
        if (wait >= 1) await new Promise((r) => setTimeout(r, wait));
      }
      await publish(url);
    }
  }));
}

/** A free port on loopback. */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const p = (l.addr as Deno.NetAddr).port;
  l.close();
  return p;
}

/** Waits (at most 10 s) until `url` answers. */
async function waitAnswering(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const res = await fetch(`${url}/healthz`);
      await res.body?.cancel();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Deno's `bare` (`edge_floor_deno.ts`): `Deno.serve` answering `answer` by itself. */
async function startDenoFloor(answer: string): Promise<RunningEdge> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--unstable-no-legacy-abort",
      "--allow-net",
      "--allow-env",
      new URL("edge_floor_deno.ts", import.meta.url).pathname,
    ],
    env: { FLOOR_ANSWER: answer, PORT: String(port) },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  return await answering(child, port);
}

/** `child`, once it answers on `port`, with a stop that ends it. */
async function answering(child: Deno.ChildProcess, port: number): Promise<RunningEdge> {
  const url = `http://127.0.0.1:${port}`;
  await waitAnswering(url);
  const stop = async () => {
    child.kill("SIGTERM");
    await child.status;
  };
  return { url, child, stop };
}

/** A `workerd` running `edge_floor_worker.ts` in `mode`, answering `answer`. */
async function startFloor(mode: string, answer: string, dir: string): Promise<RunningEdge> {
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/${mode}.capnp`,
    workerdConfig({
      module: "floor.js",
      listen: `127.0.0.1:${port}`,
      vars: { FLOOR_MODE: mode, FLOOR_ANSWER: answer },
    }),
  );
  const child = new Deno.Command(workerdBinary(), {
    args: ["serve", `${dir}/${mode}.capnp`, "--experimental"],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  return await answering(child, port);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");

console.error(`load average before: ${load()}`);
const nodes = await Nodes.start({ count: 3, storage: values.storage, keepLogs: false });
const dir = await Deno.makeTempDir({ prefix: "quorumq-edge-floor-" });
const running: RunningEdge[] = [];
try {
  const leader = nodes.url(await nodes.waitLeader());
  const put = await fetch(`${leader}/v1/queues/floor`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  await put.body?.cancel();
  // The node's own answer to a publish, which the floor Workers give back.
  const first = await publish(leader);
  const headers: Record<string, string> = {};
  first.headers.forEach((value, name) => {
    if (name !== "content-length" && name !== "date") headers[name] = value;
  });
  const answer = JSON.stringify({ status: 201, headers, text: first.text });
  await bundleWorker(`${dir}/floor.js`, new URL("edge_floor_worker.ts", import.meta.url).pathname);
  const targets: Target[] = [{ name: "leader", url: leader, pid: undefined }];
  const denoFloor = await startDenoFloor(answer);
  running.push(denoFloor);
  targets.push({ name: "deno bare", url: denoFloor.url, pid: denoFloor.child.pid });
  const denoEdge = await startEdge({
    runtime: "deno",
    upstream: nodes.urls(),
    listen: "127.0.0.1:0",
    output: "null",
  });
  running.push(denoEdge);
  targets.push({ name: "deno gateway + stream", url: denoEdge.url, pid: denoEdge.child.pid });
  for (const mode of ["bare", "gateway", "handoff"]) {
    const floor = await startFloor(mode, answer, dir);
    running.push(floor);
    targets.push({ name: `workerd ${mode}`, url: floor.url, pid: floor.child.pid });
  }
  const edge = await startEdge({
    runtime: "workerd",
    upstream: nodes.urls(),
    listen: "127.0.0.1:0",
    output: "null",
  });
  running.push(edge);
  targets.push({ name: "workerd gateway + stream", url: edge.url, pid: edge.child.pid });
  // The floors again, each at its gateway's rate: a floor that answers at once serves the 64
  // clients faster than a gateway that waits on the node, and a server's CPU per request moves
  // with its rate (events per wake-up), so this is the floor measured as the gateway is.
  const [denoBare, denoGateway, workerdBare, workerdGateway] = [
    "deno bare",
    "deno gateway + stream",
    "workerd bare",
    "workerd gateway + stream",
  ].map((name) => targets.find((t) => t.name === name)!);
  targets.push({ ...denoBare, name: "deno bare at its gateway's rate", pacedAs: denoGateway });
  targets.push({
    ...workerdBare,
    name: "workerd bare at its gateway's rate",
    pacedAs: workerdGateway,
  });
  /** Each target's last measured rate (the warm-up's, then each round's): what floors follow. */
  const lastRate = new Map<Target, number>();
  const run = async (t: Target, n: number): Promise<number> => {
    const t0 = performance.now();
    await lanes(t.url, n, t.pacedAs === undefined ? undefined : lastRate.get(t.pacedAs));
    const perSecond = n / (performance.now() - t0) * 1000;
    lastRate.set(t, perSecond);
    return perSecond;
  };
  for (const t of targets) await run(t, 1000);
  const cpu: number[][] = targets.map(() => []);
  const rate: number[][] = targets.map(() => []);
  const p50: number[][] = targets.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(k + round) % targets.length];
      const at = targets.indexOf(t);
      const c0 = cpuMs(t.pid);
      rate[at].push(await run(t, MESSAGES));
      cpu[at].push((cpuMs(t.pid) - c0) / MESSAGES);
      // A paced floor's p50 is its floor's (measured there).
      if (t.pacedAs !== undefined) continue;
      const times: number[] = [];
      for (let i = 0; i < SEQUENTIAL; i++) {
        const s = performance.now();
        await publish(t.url);
        times.push(performance.now() - s);
      }
      p50[at].push(median(times));
    }
    console.error(`round ${round + 1} of ${ROUNDS} done, load ${load()}`);
  }
  console.log(
    "| target | gateway CPU ms per publish | 64 clients msgs/s | publish p50 ms | not 201 |",
  );
  console.log("| --- | --- | --- | --- | --- |");
  targets.forEach((t, k) => {
    const c = t.pid === undefined ? "-" : median(cpu[k]).toFixed(3);
    console.log(
      `| ${t.name} | ${c} | ${median(rate[k]).toFixed(0)} | ` +
        `${t.pacedAs !== undefined ? "-" : median(p50[k]).toFixed(3)} | ` +
        `${failed.get(t.url) ?? 0} |`,
    );
  });
} finally {
  for (const r of running) await r.stop();
  await nodes.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  console.error(`load average after: ${load()}`);
}
