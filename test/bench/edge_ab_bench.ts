/**
 * A/B of the edge gateway's CPU per publish: this checkout's gateway and another checkout's
 * (`--base <dir>`), side by side in front of the same three nodes, 64 clients publishing through
 * each in turn (`--rounds` rounds, the order alternating), and the gateway process's CPU ms per
 * publish (Linux `/proc`) and the leader's, per round, with the medians. On a shared machine the
 * rounds' rates swing with the load; paired rounds of the two builds are the comparison
 * (docs/edge.md, "Measured").
 *
 * Usage: deno run -A test/bench/edge_ab_bench.ts --base /path/to/other/checkout [--rounds 6]
 *   [--messages 5000] [--storage memory|fsync] [--runtime deno|workerd|both] [--profile dir]
 *   [--heap] [--strace] [--perf dir] [--sequential 2000]
 *
 * `--sequential <n>`: first, sequential publishes (one at a time) through each gateway and to the
 * leader itself, in blocks of 100 taking turns, and each one's p50 (the latency a gateway adds,
 * A/B on the same nodes at the same moments).
 *
 * `--profile <dir>`: each Deno gateway writes a V8 CPU profile of its measured rounds
 * (`edge_profiled_deno.ts`; `--heap`: a sampling heap profile) into `<dir>/a` (this checkout)
 * and `<dir>/b` (the base); `profile_summary.ts` summarizes them.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes } from "../e2e/nodes.ts";
import { checkoutRoot } from "./_checkout.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    base: { type: "string" },
    rounds: { type: "string", default: "6" },
    messages: { type: "string", default: "5000" },
    storage: { type: "string", default: "memory" },
    runtime: { type: "string", default: "deno" },
    profile: { type: "string" },
    heap: { type: "boolean", default: false },
    strace: { type: "boolean", default: false },
    perf: { type: "string" },
    sequential: { type: "string", default: "0" },
  },
});
const ROUNDS = Number(values.rounds);
const MESSAGES = Number(values.messages);
const BODY = JSON.stringify({ body: "x".repeat(256) });
const LANES = 64;
if (values.storage !== "fsync" && values.storage !== "memory") {
  throw new Error(`--storage must be fsync or memory, not ${values.storage}`);
}

interface Gateway {
  readonly name: string;
  readonly url: string;
  readonly pid: number | undefined;
  readonly profiled: boolean;
  stop(): Promise<void>;
}

const here = new URL(".", import.meta.url);

/** A Deno gateway of `checkout` (undefined: this one), profiled into `profileDir` if given. */
async function denoGateway(
  name: string,
  checkout: string | undefined,
  upstream: string[],
  profileDir: string | undefined,
): Promise<Gateway> {
  const { freePorts } = await import("../e2e/nodes.ts");
  const [port] = freePorts(1);
  const env: Record<string, string> = {
    QUORUMQ_UPSTREAM: upstream.join(","),
    PORT: String(port),
    QQ_EDGE_CHECKOUT: checkout ?? "",
  };
  if (profileDir !== undefined) {
    await Deno.mkdir(profileDir, { recursive: true });
    env.QQ_PROFILE_DIR = profileDir;
    if (values.heap) env.QQ_PROFILE_HEAP = "1";
  }
  const child = new Deno.Command(Deno.execPath(), {
    // As `startEdge` runs it (run.ts).
    args: [
      "run",
      "--unstable-no-legacy-abort",
      "-A",
      new URL("edge_profiled_deno.ts", here).pathname,
    ],
    env,
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url);
  return {
    name,
    url,
    pid: child.pid,
    profiled: profileDir !== undefined,
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
    },
  };
}

/** A `workerd` gateway (isolate host) of `checkout`, by that checkout's own `startEdge`. */
async function workerdGateway(
  name: string,
  checkout: string | undefined,
  upstream: string[],
): Promise<Gateway> {
  const { startEdge } = await import(`${checkoutRoot(checkout)}src/edge_targets/run.ts`);
  const e = await startEdge({
    runtime: "workerd",
    upstream,
    listen: "127.0.0.1:0",
    output: "null",
  });
  return { name, url: e.url, pid: e.child.pid, profiled: false, stop: () => e.stop() };
}

async function waitHealthy(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/healthz`);
      await res.body?.cancel();
      if (res.ok) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url}/healthz never answered`);
}

async function publish(url: string): Promise<void> {
  const res = await fetch(`${url}/v1/queues/ab/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: BODY,
  });
  const text = await res.text();
  if (res.status !== 201) {
    throw new Error(`publish via ${url}: ${res.status} ${text.slice(0, 300)}`);
  }
}

async function lanes(url: string, n: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: LANES }, async () => {
    while (next < n) {
      next++;
      await publish(url);
    }
  }));
}

function cpuMs(pid: number | undefined): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/**
 * `--strace`: counts a gateway's system calls during a round (`strace -c -f`; it slows the
 * process, so its round's CPU and rate are not comparable): what it returns stops it and prints.
 */
function straceRound(pid: number | undefined, name: string): () => Promise<void> {
  if ((!values.strace && values.perf === undefined) || pid === undefined) {
    return () => Promise.resolve();
  }
  const file = `${values.perf}/${name.replaceAll(" ", "-")}-${Date.now()}.data`;
  const child = new Deno.Command(values.strace ? "strace" : "perf", {
    args: values.strace
      ? ["-c", "-f", "-p", String(pid)]
      : ["record", "-F", "2999", "-g", "-o", file, "-p", String(pid)],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  return async () => {
    await new Promise((r) => setTimeout(r, 100));
    child.kill("SIGINT");
    const out = new TextDecoder().decode((await child.output()).stderr);
    console.error(
      `strace of ${name}, ${MESSAGES} publishes:\n${
        out.split("\n").filter((l) => !l.includes("detached")).slice(0, 16).join("\n")
      }`,
    );
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");

console.error(`load average before: ${load()}`);
const nodes = await Nodes.start({ count: 3, storage: values.storage, keepLogs: false });
const gateways: Gateway[] = [];
try {
  const upstream = nodes.urls();
  const runtimes = values.runtime === "both" ? ["deno", "workerd"] : [values.runtime];
  for (const runtime of runtimes) {
    for (const [tag, checkout] of [["a", undefined], ["b", values.base]] as const) {
      if (tag === "b" && checkout === undefined) continue;
      const name = `${runtime} ${tag === "a" ? "this" : "base"}`;
      gateways.push(
        runtime === "deno"
          ? await denoGateway(
            name,
            checkout,
            upstream,
            values.profile ? `${values.profile}/${tag}` : undefined,
          )
          : await workerdGateway(name, checkout, upstream),
      );
    }
  }
  const leaderId = await nodes.waitLeader();
  const leader = nodes.url(leaderId);
  const put = await fetch(`${leader}/v1/queues/ab`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  await put.body?.cancel();
  for (const g of gateways) await lanes(g.url, 2000); // warm-up (the stream moves to the leader)
  const SEQUENTIAL = Number(values.sequential);
  if (SEQUENTIAL > 0) {
    const urls = [leader, ...gateways.map((g) => g.url)];
    const names = ["leader", ...gateways.map((g) => g.name)];
    const times: number[][] = urls.map(() => []);
    for (let block = 0; block * 100 < SEQUENTIAL; block++) {
      for (let k = 0; k < urls.length; k++) {
        const at = (k + block) % urls.length;
        for (let i = 0; i < 100; i++) {
          const t0 = performance.now();
          await publish(urls[at]);
          times[at].push(performance.now() - t0);
        }
      }
    }
    const p50s = times.map(median);
    names.forEach((name, k) =>
      console.log(
        `${name}: sequential p50 ${p50s[k].toFixed(3)} ms` +
          (k === 0 ? "" : ` (+${(p50s[k] - p50s[0]).toFixed(3)} ms)`),
      )
    );
  }
  const gw: number[][] = gateways.map(() => []);
  const ld: number[][] = gateways.map(() => []);
  const rate: number[][] = gateways.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < gateways.length; k++) {
      const at = round % 2 === 0 ? k : gateways.length - 1 - k;
      const g = gateways[at];
      if (g.profiled) Deno.kill(g.pid!, "SIGUSR1");
      const leaderPid = nodes.pid(leaderId);
      const traced = straceRound(g.pid, g.name);
      if (values.strace || values.perf) await new Promise((r) => setTimeout(r, 500)); // attached
      const [l0, g0, t0] = [cpuMs(leaderPid), cpuMs(g.pid), performance.now()];
      await lanes(g.url, MESSAGES);
      const ms = performance.now() - t0;
      gw[at].push((cpuMs(g.pid) - g0) / MESSAGES);
      ld[at].push((cpuMs(leaderPid) - l0) / MESSAGES);
      rate[at].push(MESSAGES / ms * 1000);
      await traced();
      if (g.profiled) Deno.kill(g.pid!, "SIGUSR2");
      console.error(
        `round ${round + 1} ${g.name}: ${rate[at].at(-1)!.toFixed(0)}/s, CPU ms per publish: ` +
          `gateway ${gw[at].at(-1)!.toFixed(3)}, leader ${
            ld[at].at(-1)!.toFixed(3)
          } (load ${load()})`,
      );
    }
  }
  for (const [k, g] of gateways.entries()) {
    console.log(
      `${g.name}: gateway CPU ms/publish median ${median(gw[k]).toFixed(3)} ` +
        `[${gw[k].map((x) => x.toFixed(3)).join(" ")}], leader ${median(ld[k]).toFixed(3)}, ` +
        `rate ${median(rate[k]).toFixed(0)}/s`,
    );
  }
  // Each profiled gateway writes its last profile before it is stopped (bounded: 20 s).
  for (let waited = 0; values.profile !== undefined && waited < 200; waited++) {
    const written = (tag: string) =>
      [...Deno.readDirSync(`${values.profile}/${tag}`)].filter((e) => e.name.startsWith("edge-"));
    const want = ROUNDS;
    const done = ["a", "b"].every((tag) => {
      try {
        return written(tag).length >= want;
      } catch {
        return true; // no such gateway
      }
    });
    if (done) break;
    await new Promise((r) => setTimeout(r, 100));
  }
} finally {
  for (const g of gateways) await g.stop();
  await nodes.stop();
  console.error(`load average after: ${load()}`);
}
