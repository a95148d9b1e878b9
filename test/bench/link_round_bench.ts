/**
 * What a Raft round costs the three nodes at a given depth of publishes in flight: the project's
 * client publishes 256-byte bodies with ids for `--seconds`, `--inflight` at a time (default 64,
 * the q1 shape), to the leader of three real nodes (fsync on, V8's defaults as the peers kit runs
 * them). Per run it prints msgs/s, the CPU per message of the leader and each follower, and the
 * context switches of each node's main thread per message (`/proc/<pid>/status`; involuntary ones
 * are where a CPU profile charges wall time to the call a node was switched out in, see
 * docs/transport.md). While it runs, `/tmp/link_round_bench.pids` holds the nodes' pids, leader
 * first, for `strace -c -f -p` or `perf record -p` from another shell.
 *
 * `--client-nodelay` gives the client's stream a socket with TCP_NODELAY (`dial.ts`), which is the
 * client's own default in Deno since session 14 (src/client/default_dial.ts); `--client-websocket`
 * gives it Deno's `WebSocket` instead, the default before (Nagle on, which writes a message's
 * header and body in two calls): with 64 in flight, that client stalls ~40 ms per round on the
 * node's delayed ACK.
 *
 * Usage: deno run -A test/bench/link_round_bench.ts [--runs 3] [--seconds 5] [--inflight 64]
 *   [--client-nodelay | --client-websocket] [--checkout dir]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes } from "../e2e/nodes.ts";
import { Client } from "../../src/client/mod.ts";
import { dialWebSocket } from "../../cluster/transport/mod.ts";
import { cpuSeconds } from "./_cpu.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    seconds: { type: "string", default: "5" },
    inflight: { type: "string", default: "64" },
    "client-nodelay": { type: "boolean", default: false },
    "client-websocket": { type: "boolean", default: false },
    checkout: { type: "string" },
  },
});
const SECONDS = Number(values.seconds);
const INFLIGHT = Number(values.inflight);
const BODY = "x".repeat(256);
const CHECKOUT = values.checkout ?? new URL("../..", import.meta.url).pathname;
const PIDS_FILE = "/tmp/link_round_bench.pids";
// A LinkSocket has what the client's stream uses of a WebSocket (the stream's own seam type).
const dial = values["client-nodelay"]
  ? (url: string) => dialWebSocket(url) as never
  : values["client-websocket"]
  ? (url: string) => new WebSocket(url) as never
  : undefined;

/** Voluntary and involuntary context switches of `pid`'s main thread so far. */
function switches(pid: number): [number, number] {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const field = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+)`, "m"))![1]);
  return [field("voluntary_ctxt_switches"), field("nonvoluntary_ctxt_switches")];
}

/** Publishes for `ms`, INFLIGHT at a time; returns how many were acknowledged. */
async function publishFor(client: Client, queue: string, tag: string, ms: number) {
  const end = performance.now() + ms;
  let sent = 0;
  let acked = 0;
  await Promise.all(Array.from({ length: INFLIGHT }, async () => {
    while (performance.now() < end) {
      await client.publish(queue, { id: `${tag}-${sent++}`, body: BODY });
      acked++;
    }
  }));
  return acked;
}

async function run(nodes: Nodes, runNo: number): Promise<void> {
  const leader = await nodes.waitLeader();
  const pids = [leader, ...nodes.ids.filter((id) => id !== leader)].map((id) => nodes.pid(id)!);
  const client = new Client({ nodes: [nodes.url(leader)], ...(dial ? { dial } : {}) });
  try {
    const queue = `round-${runNo}`;
    await client.createQueue(queue);
    await publishFor(client, queue, "warm", 1000);
    Deno.writeTextFileSync(PIDS_FILE, pids.join(" ") + "\n");
    const cpu0 = pids.map(cpuSeconds);
    const sw0 = pids.map(switches);
    const count = await publishFor(client, queue, "m", SECONDS * 1000);
    const cpu = pids.map((p, i) => ((cpuSeconds(p) - cpu0[i]) / count * 1e6).toFixed(1));
    const sw = pids.map(switches).map(([v, n], i) =>
      `${((v - sw0[i][0]) / count).toFixed(3)}/${((n - sw0[i][1]) / count).toFixed(3)}`
    );
    console.log(
      `run ${runNo + 1}: ${(count / SECONDS).toFixed(0)} msgs/s; µs/msg leader ${cpu[0]}, ` +
        `followers ${cpu[1]} + ${cpu[2]}; context switches/msg (voluntary/involuntary) ` +
        `leader ${sw[0]}, followers ${sw[1]}, ${sw[2]}`,
    );
  } finally {
    await client.close();
  }
}

console.error(`load average before: ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
const nodes = await Nodes.start({
  count: 3,
  storage: "fsync",
  keepLogs: false,
  main: `${CHECKOUT}/src/main.ts`,
  v8Flags: "",
});
try {
  for (let r = 0; r < Number(values.runs); r++) await run(nodes, r);
} finally {
  await Deno.remove(PIDS_FILE).catch(() => {});
  await nodes.stop();
}
console.error(`load average after: ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
