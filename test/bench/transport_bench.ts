/**
 * Transport benchmark over loopback, both nodes in this one process (so they share the CPU):
 * 1. throughput: 256-byte append-like messages n1 → n2 over one link, paced so the bounded
 *    queue never drops;
 * 2. latency: ping-pong of one heartbeat n1 → n2 → n1, p50 and p99 of round trips.
 * Each figure is the median of several runs.
 *
 * Run: deno run --allow-net --allow-env --allow-read test/bench/transport_bench.ts
 *
 * @module
 */

import type { Message } from "../../cluster/raft/mod.ts";
import { CLUSTER_LINK_PATH, Transport } from "../../cluster/transport/mod.ts";

const RUNS = 5;
const THROUGHPUT_MESSAGES = 200_000;
const SEND_CHUNK = 500;
const PINGS = 2_000;

interface Pair {
  readonly n1: Transport;
  readonly n2: Transport;
  onN2: (msgs: Message[]) => void;
  onN1: (msgs: Message[]) => void;
  close(): Promise<void>;
}

function serve(handle: (req: Request) => Response): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === CLUSTER_LINK_PATH
        ? handle(req)
        : new Response(null, { status: 404 }),
  );
}

async function startPair(): Promise<Pair> {
  const ts: Transport[] = [];
  const s1 = serve((req) => ts[0].handleUpgrade(req));
  const s2 = serve((req) => ts[1].handleUpgrade(req));
  const peers = new Map([["n1", `http://127.0.0.1:${s1.addr.port}`], [
    "n2",
    `http://127.0.0.1:${s2.addr.port}`,
  ]]);
  const pair = {
    onN1: (_: Message[]) => {},
    onN2: (_: Message[]) => {},
    close: async () => {
      await Promise.all(ts.map((t) => t.close()));
      await Promise.all([s1.shutdown(), s2.shutdown()]);
    },
  } as Pair;
  const common = { clusterId: "bench", secret: "bench-secret", peers };
  ts.push(new Transport({ ...common, selfId: "n1", onMessages: (m) => pair.onN1(m) }));
  ts.push(new Transport({ ...common, selfId: "n2", onMessages: (m) => pair.onN2(m) }));
  Object.assign(pair, { n1: ts[0], n2: ts[1] });
  // Both links up before timing anything.
  await roundTrip(pair);
  return pair;
}

function msg(
  type: Message["type"],
  from: string,
  to: string,
  index: number,
  dataBytes = 0,
): Message {
  const m: Message = {
    type,
    clusterId: "bench",
    from,
    to,
    term: 1,
    logTerm: 1,
    index,
    commit: index,
  };
  if (dataBytes === 0) return m;
  return {
    ...m,
    entries: [{ term: 1, index: index + 1, kind: 0, data: new Uint8Array(dataBytes) }],
  };
}

function roundTrip(pair: Pair): Promise<number> {
  return new Promise((resolve) => {
    const start = performance.now();
    pair.onN2 = (msgs) => pair.n2.send(msgs.map((m) => msg("heartbeat_resp", "n2", "n1", m.index)));
    pair.onN1 = () => resolve(performance.now() - start);
    pair.n1.send([msg("heartbeat", "n1", "n2", 0)]);
  });
}

async function throughput(pair: Pair): Promise<number> {
  let received = 0;
  const done = Promise.withResolvers<void>();
  pair.onN2 = (msgs) => {
    received += msgs.length;
    if (received >= THROUGHPUT_MESSAGES) done.resolve();
  };
  const before = pair.n1.stats().outbound.n2;
  const start = performance.now();
  let sent = 0;
  while (sent < THROUGHPUT_MESSAGES) {
    // Stay well under the 4096-message queue bound: a benchmark that drops measures nothing.
    if (pair.n1.stats().outbound.n2.queuedMessages > 2000) {
      await new Promise((r) => setTimeout(r, 0));
      continue;
    }
    const chunk: Message[] = [];
    for (let i = 0; i < SEND_CHUNK; i++) chunk.push(msg("append", "n1", "n2", sent + i, 256));
    pair.n1.send(chunk);
    sent += SEND_CHUNK;
    await new Promise((r) => setTimeout(r, 0));
  }
  await done.promise;
  const s = pair.n1.stats().outbound.n2;
  if (s.droppedQueueFull > 0) throw new Error(`Benchmark dropped ${s.droppedQueueFull} messages`);
  msgsPerFrame.push((s.sentMessages - before.sentMessages) / (s.sentFrames - before.sentFrames));
  return THROUGHPUT_MESSAGES / ((performance.now() - start) / 1000);
}

async function latency(pair: Pair): Promise<{ p50Us: number; p99Us: number }> {
  const rtts: number[] = [];
  for (let i = 0; i < PINGS; i++) rtts.push(await roundTrip(pair));
  rtts.sort((a, b) => a - b);
  return {
    p50Us: rtts[Math.floor(PINGS / 2)] * 1000,
    p99Us: rtts[Math.floor(PINGS * 0.99)] * 1000,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const rates: number[] = [];
const msgsPerFrame: number[] = [];
const p50s: number[] = [];
const p99s: number[] = [];
for (let run = 0; run < RUNS; run++) {
  const pair = await startPair();
  try {
    await latency(pair); // warm-up
    rates.push(await throughput(pair));
    const l = await latency(pair);
    p50s.push(l.p50Us);
    p99s.push(l.p99Us);
  } finally {
    await pair.close();
  }
}
const fmt = (xs: number[], digits = 0) => xs.map((x) => x.toFixed(digits)).join(", ");
console.log(`throughput 256 B msgs/s: median ${median(rates).toFixed(0)}  (runs: ${fmt(rates)})`);
console.log(`messages per frame:      median ${median(msgsPerFrame).toFixed(0)}`);
console.log(`ping-pong RTT p50 µs:    median ${median(p50s).toFixed(0)}  (runs: ${fmt(p50s)})`);
console.log(`ping-pong RTT p99 µs:    median ${median(p99s).toFixed(0)}  (runs: ${fmt(p99s)})`);
