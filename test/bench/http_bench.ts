/**
 * Publish requests per second over the HTTP API of three real quorumq nodes (fsync on,
 * loopback), 64 concurrent clients, through the leader and through a follower (which forwards
 * to the leader). One request = one message of 256 B with a unique id (dedup on). Median of
 * `--runs` runs, each on a fresh queue after a warm-up.
 *
 * The load comes from one Node.js 20 process (`node:http`, keep-alive), the client the other
 * systems we compare with were driven by (a fair comparison uses one client); `--client deno`
 * runs the same script under Deno with `fetch` instead. Server CPU is utime+stime of the three
 * node processes from /proc, per message.
 *
 * Usage: deno run -A test/bench/http_bench.ts [--runs 3] [--messages 20000] [--client node|deno]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes } from "../e2e/nodes.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    messages: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "64" },
    size: { type: "string", default: "256" },
    client: { type: "string", default: "node" },
  },
});
const RUNS = Number(values.runs);
const MESSAGES = Number(values.messages);
const CONCURRENCY = Number(values.concurrency);
const SIZE = Number(values.size);
const CLIENT = values.client === "deno" ? "deno" : "node";

/**
 * The load generator, plain JS. Under Node.js it posts with `node:http` and a keep-alive agent
 * (64 sockets): Node 20's built-in `fetch` (undici) costs ~0.5 ms of client CPU per request on
 * this box, 4-5x `node:http`, and would measure the client rather than the broker. Under Deno it
 * uses `fetch`.
 */
const CLIENT_SCRIPT = `
const isNode = !globalThis.Deno;
const argv = isNode ? process.argv.slice(2) : Deno.args;
const { url, queue, total, concurrency, size, prefix } = JSON.parse(argv[0]);
const payload = "x".repeat(size);
const target = new URL(url + "/v1/queues/" + queue + "/messages");
const http = isNode ? await import("node:http") : undefined;
const agent = http && new http.Agent({ keepAlive: true, maxSockets: concurrency });
function postNode(body) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: target.hostname, port: target.port, path: target.pathname, method: "POST", agent,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
    }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
async function postFetch(body) {
  const res = await fetch(target, {
    method: "POST", headers: { "content-type": "application/json" }, body,
  });
  return { status: res.status, text: await res.text() };
}
const post = isNode ? postNode : postFetch;
const latencies = [];
let next = 0, errors = 0, firstError = "", retries = 0, firstRetry = "";
const cpu0 = isNode ? process.cpuUsage() : undefined;
async function worker() {
  for (;;) {
    const i = next++;
    if (i >= total) return;
    const t0 = performance.now();
    const body = JSON.stringify({ id: prefix + "-" + i, body: payload });
    // 421/503/504 (leader moved, no leader, unknown outcome): retry with the same id, as the
    // client library does.
    for (let attempt = 0; ; attempt++) {
      const res = await post(body);
      if (res.status === 201 || res.status === 200) break;
      if ([421, 503, 504].includes(res.status) && attempt < 50) {
        retries++;
        firstRetry ||= res.status + " " + res.text;
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      errors++;
      firstError ||= res.status + " " + res.text;
      break;
    }
    latencies.push(performance.now() - t0);
  }
}
const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, worker));
const secs = (performance.now() - t0) / 1000;
agent?.destroy();
latencies.sort((a, b) => a - b);
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
const cpu = cpu0 ? process.cpuUsage(cpu0) : undefined;
console.log(JSON.stringify({
  rate: total / secs, secs, p50: q(0.5), p99: q(0.99), errors, firstError, retries, firstRetry,
  clientCpuUsPerMsg: cpu ? (cpu.user + cpu.system) / total : null,
}));
`;

interface RunResult {
  rate: number;
  p50: number;
  p99: number;
  errors: number;
  firstError: string;
  retries: number;
  firstRetry: string;
  /** Raft term changes seen by the leader during the run (elections). */
  termChanges: number;
  clientCpuUsPerMsg: number | null;
  serverCpuUsPerMsg: number;
}

/** utime+stime of a process in microseconds (Linux /proc; clock ticks are 100 Hz here). */
function cpuUs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function runLoad(
  script: string,
  url: string,
  queue: string,
  total: number,
  nodes: Nodes,
  prefix: string,
): Promise<RunResult> {
  const pids = nodes.live().map((id) => nodes.pid(id)!);
  const term0 = (await nodes.cluster(nodes.live()[0])).term;
  const cpu0 = pids.reduce((s, p) => s + cpuUs(p), 0);
  const cfg = JSON.stringify({
    url,
    queue,
    total,
    concurrency: CONCURRENCY,
    size: SIZE,
    prefix,
  });
  const cmd = CLIENT === "node"
    ? new Deno.Command("node", { args: [script, cfg], stderr: "inherit" })
    : new Deno.Command(Deno.execPath(), { args: ["run", "-A", script, cfg], stderr: "inherit" });
  const out = await cmd.output();
  if (out.code !== 0) throw new Error(`The ${CLIENT} load client exited with ${out.code}`);
  const cpu1 = pids.reduce((s, p) => s + cpuUs(p), 0);
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  const termChanges = (await nodes.cluster(nodes.live()[0])).term - term0;
  return { ...r, serverCpuUsPerMsg: (cpu1 - cpu0) / total, termChanges };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "quorumq-http-bench-" });
  const script = `${dir}/client.mjs`;
  await Deno.writeTextFile(script, CLIENT_SCRIPT);
  const nodes = await Nodes.start({ count: 3, storage: "fsync", keepLogs: false });
  try {
    console.error(`client ${CLIENT}; ${MESSAGES} msgs/run`);
    const results: Record<string, RunResult[]> = { leader: [], follower: [] };
    for (let run = 0; run < RUNS; run++) {
      for (const label of ["leader", "follower"] as const) {
        // Elections under load move the leader: pick the roles afresh for every run.
        const leader = await nodes.waitLeader();
        const follower = nodes.ids.find((id) => id !== leader)!;
        const id = label === "leader" ? leader : follower;
        const queue = `bench-${label}-${run}`;
        const created = await fetch(`${nodes.url(leader)}/v1/queues/${queue}`, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: "{}",
        });
        await created.body?.cancel();
        await runLoad(script, nodes.url(id), queue, Math.min(2_000, MESSAGES), nodes, "warm");
        const r = await runLoad(script, nodes.url(id), queue, MESSAGES, nodes, "m");
        if (r.errors > 0) throw new Error(`${r.errors} publishes failed: ${r.firstError}`);
        results[label].push(r);
        console.error(
          `run ${run + 1} ${label}: ${r.rate.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, ` +
            `p99 ${r.p99.toFixed(2)} ms, server CPU ${r.serverCpuUsPerMsg.toFixed(0)} us/msg` +
            (r.retries > 0 ? `, ${r.retries} retries (first: ${r.firstRetry.slice(0, 80)})` : "") +
            (r.termChanges > 0 ? `, ${r.termChanges} term changes` : ""),
        );
      }
    }
    const summary = Object.fromEntries(
      Object.entries(results).map(([label, rs]) => [label, {
        medianRate: median(rs.map((r) => r.rate)),
        rates: rs.map((r) => Math.round(r.rate)),
        medianP50Ms: median(rs.map((r) => r.p50)),
        medianP99Ms: median(rs.map((r) => r.p99)),
        retries: rs.map((r) => r.retries),
        termChanges: rs.map((r) => r.termChanges),
        medianServerCpuUsPerMsg: median(rs.map((r) => r.serverCpuUsPerMsg)),
        medianClientCpuUsPerMsg: rs[0].clientCpuUsPerMsg === null
          ? null
          : median(rs.map((r) => r.clientCpuUsPerMsg!)),
      }]),
    );
    console.log(
      JSON.stringify(
        { client: CLIENT, messages: MESSAGES, concurrency: CONCURRENCY, size: SIZE, ...summary },
        null,
        2,
      ),
    );
  } finally {
    await nodes.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

await main();
