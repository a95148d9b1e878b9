/**
 * What TLS costs: the same three real nodes (fsync on, loopback) plain and on TLS (peer TLS with a
 * cluster CA, the listener serving the peer certificate), runs alternating, medians of `--runs`:
 * - sequential publish to the leader on the stream: p50 / p99 and the share over 10 ms;
 * - sequential publish through a follower over HTTP: the follower forwards each write to the
 *   leader on the forwarding channel, whose listener end is an accepted (TLS) socket;
 * - 16 publishes in flight on one stream through a follower: rate and p99.
 * The share over 10 ms is the one to watch: accepted TLS sockets have no TCP_NODELAY (docs/tls.md),
 * so a small answer written while an earlier one is unacknowledged may wait for a delayed ACK.
 * Prints the 1-minute load average before and after (a shared machine).
 *
 * Usage: deno run -A test/bench/tls_bench.ts [--runs 3] [--count 1500]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes } from "../e2e/nodes.ts";
import { StreamConnection } from "../../src/client/mod.ts";
import { trustCa } from "../../src/cli/trust.ts";

import { TestPki } from "../testing/tls.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "3" }, count: { type: "string", default: "1500" } },
});
const RUNS = Number(values.runs);
const COUNT = Number(values.count);
const BODY = JSON.stringify({ body: "x".repeat(256) });

type Send = () => Promise<void>;

interface Figures {
  rate: number;
  p50: number;
  p99: number;
  over10: number;
}

async function measure(send: Send, count: number, lanes: number): Promise<Figures> {
  for (let i = 0; i < 200; i++) await send();
  const times: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: lanes }, async () => {
    while (next < count) {
      next++;
      const s = performance.now();
      await send();
      times.push(performance.now() - s);
    }
  }));
  const rate = count / (performance.now() - t0) * 1000;
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  const over10 = times.filter((t) => t > 10).length / times.length * 100;
  return { rate, p50: at(0.5), p99: at(0.99), over10 };
}

async function cluster(tls: boolean, pki: TestPki) {
  if (!tls) return { nodes: await Nodes.start({ count: 3 }), caPem: undefined };
  const ca = await pki.ca(`bench-${crypto.randomUUID().slice(0, 6)}`);
  const certs = new Map<string, { certFile: string; keyFile: string }>();
  for (const id of ["n1", "n2", "n3"]) {
    certs.set(id, await pki.cert(ca, id, { file: `${ca.name}-${id}` }));
  }
  const nodes = await Nodes.start({
    count: 3,
    tls: {
      caPem: ca.certPem,
      args: (id) => [
        ...["--peer-ca", ca.certFile],
        ...["--peer-cert", certs.get(id)!.certFile, "--peer-key", certs.get(id)!.keyFile],
      ],
    },
  });
  return { nodes, caPem: ca.certPem };
}

async function runOnce(tls: boolean, pki: TestPki): Promise<Record<string, Figures>> {
  const { nodes, caPem } = await cluster(tls, pki);
  const trust = caPem === undefined ? undefined : trustCa(caPem);
  try {
    const leader = await nodes.waitLeader();
    const follower = nodes.ids.find((id) => id !== leader)!;
    const put = await nodes.fetch(`${nodes.url(leader)}/v1/queues/b`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    await put.body?.cancel();
    const open = (id: string) =>
      StreamConnection.open(nodes.url(id), undefined, 10_000, trust?.dial);
    const streamSend = (s: StreamConnection): Send => async () => {
      const res = await s.request("POST", "/v1/queues/b/messages", {}, BODY);
      await res.arrayBuffer();
      if (res.status !== 201) throw new Error(`publish: ${res.status}`);
    };
    const httpSend: Send = async () => {
      const res = await nodes.fetch(`${nodes.url(follower)}/v1/queues/b/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: BODY,
      });
      await res.arrayBuffer();
      if (res.status !== 201) throw new Error(`publish: ${res.status}`);
    };
    const toLeader = await open(leader);
    const toFollower = await open(follower);
    const out = {
      "sequential, stream, leader": await measure(streamSend(toLeader), COUNT, 1),
      "sequential, HTTP, follower": await measure(httpSend, COUNT, 1),
      "16 in flight, stream, follower": await measure(streamSend(toFollower), COUNT * 4, 16),
    };
    await toLeader.close();
    await toFollower.close();
    return out;
  } finally {
    trust?.close();
    await nodes.stop();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const pki = await TestPki.create();
if (pki === undefined) Deno.exit(0);
console.log(`load before: ${Deno.loadavg()[0].toFixed(1)}`);
const runs: Record<"plain" | "tls", Record<string, Figures>[]> = { plain: [], tls: [] };
for (let r = 0; r < RUNS; r++) {
  for (const mode of ["plain", "tls"] as const) runs[mode].push(await runOnce(mode === "tls", pki));
}
for (const workload of Object.keys(runs.plain[0])) {
  for (const mode of ["plain", "tls"] as const) {
    const f = (k: keyof Figures) => median(runs[mode].map((r) => r[workload][k]));
    console.log(
      `${workload.padEnd(32)} ${mode.padEnd(5)} ${f("rate").toFixed(0).padStart(6)} msgs/s  ` +
        `p50 ${f("p50").toFixed(2)} ms  p99 ${f("p99").toFixed(2)} ms  >10 ms ${
          f("over10").toFixed(2)
        }%`,
    );
  }
}
console.log(`load after: ${Deno.loadavg()[0].toFixed(1)}`);
await pki.remove();
