/**
 * The stream (`/v1/stream`) against plain HTTP on three real nodes (fsync on, loopback), all to
 * the leader, runs alternating transports in one cluster, medians of `--runs`:
 * - sequential publish: one 256-byte message at a time, p50 / p99 latency and rate;
 * - 256 in flight: 256 lanes publishing one message per request (one stream; HTTP: 256
 *   keep-alive connections, since HTTP/1.1 does not pipeline), with the three nodes' CPU
 *   (utime+stime from /proc) per message;
 * - batched: 100 messages per request, 16 requests in flight (the peers' B100);
 * - consume + ack: `Client.consume` (concurrency 64) of a backlog, pushed on the stream, long
 *   polls over HTTP; acks in batches on both.
 * Warm-up first in each. Prints the 1-minute load average before and after (a shared machine).
 *
 * Usage: deno run -A test/bench/stream_bench.ts [--runs 3] [--sequential 2000]
 *   [--inflight 20000] [--batched 100000] [--consume 20000] [--transports http,stream]
 *   [--main <node entry>]
 *
 * `--transports` picks which to measure; `--main` runs another checkout's node entry (the
 * "before" side of an A/B: another worktree's `src/main.ts`). With 256 in flight it also
 * reports the leader's Raft entries per message (`quorumq_proposal_entries_total`: how well
 * proposals batch).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes } from "../e2e/nodes.ts";
import { Client, StreamConnection } from "../../src/client/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    sequential: { type: "string", default: "2000" },
    inflight: { type: "string", default: "20000" },
    consume: { type: "string", default: "20000" },
    batched: { type: "string", default: "100000" },
    transports: { type: "string", default: "http,stream" },
    main: { type: "string" },
  },
});
const RUNS = Number(values.runs);
const BODY = JSON.stringify({ body: "x".repeat(256) });
const BATCH_BODY = JSON.stringify({
  messages: Array.from({ length: 100 }, () => ({ body: "x".repeat(256) })),
});
const LANES = 256;

/** Sends one publish (or a batch of 100 with `batch`). */
type Send = (queue: string, batch?: boolean) => Promise<void>;

function httpSend(url: string): Send {
  return async (queue, batch) => {
    const res = await fetch(`${url}/v1/queues/${queue}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: batch ? BATCH_BODY : BODY,
    });
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`publish: ${res.status}`);
  };
}

function streamSend(stream: StreamConnection): Send {
  return async (queue, batch) => {
    const body = batch ? BATCH_BODY : BODY;
    const res = await stream.request("POST", `/v1/queues/${queue}/messages`, {}, body);
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`publish: ${res.status}`);
  };
}

async function sequential(send: Send, queue: string, count: number) {
  for (let i = 0; i < 200; i++) await send(queue);
  const times: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const s = performance.now();
    await send(queue);
    times.push(performance.now() - s);
  }
  const rate = count / (performance.now() - t0) * 1000;
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  return { rate, p50: at(0.5), p99: at(0.99) };
}

/** utime+stime of a process in microseconds (Linux /proc; clock ticks are 100 Hz here). */
function cpuUs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** The Raft entries a node has proposed (`quorumq_proposal_entries_total`). */
async function entriesOf(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("quorumq_proposal_entries_total"));
  return Number(line?.split(" ").at(-1) ?? NaN);
}

/**
 * Messages/s with 256 in flight, the three nodes' CPU per message over the timed part, and the
 * leader's Raft entries per message.
 */
async function inflight(
  send: Send,
  queue: string,
  count: number,
  serverCpuUs: () => number,
  entries: () => Promise<number>,
): Promise<{ rate: number; cpuUsPerMsg: number; entriesPerMsg: number }> {
  const lanes = async (n: number) => {
    let next = 0;
    await Promise.all(Array.from({ length: LANES }, async () => {
      while (next < n) {
        next++;
        await send(queue);
      }
    }));
  };
  await lanes(2000);
  const e0 = await entries();
  const cpu0 = serverCpuUs();
  const t0 = performance.now();
  await lanes(count);
  const rate = count / (performance.now() - t0) * 1000;
  const cpuUsPerMsg = (serverCpuUs() - cpu0) / count;
  return { rate, cpuUsPerMsg, entriesPerMsg: (await entries() - e0) / count };
}

/** Messages/s of batches of 100, 16 requests in flight. */
async function batched(send: Send, queue: string, count: number): Promise<number> {
  const lanes = async (requests: number) => {
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < requests) {
        next++;
        await send(queue, true);
      }
    }));
  };
  await lanes(20);
  const t0 = performance.now();
  const requests = Math.ceil(count / 100);
  await lanes(requests);
  return requests * 100 / (performance.now() - t0) * 1000;
}

async function consumeAck(url: string, kind: "stream" | "http", queue: string, count: number) {
  const client = new Client({ nodes: [url], transport: kind });
  try {
    await client.createQueue(queue);
    const batch = Array.from({ length: 100 }, () => ({ body: "x".repeat(256) }));
    for (let i = 0; i < count + 2000; i += 100) await client.publishBatch(queue, batch);
    await client.consume(queue, () => {}, { concurrency: 64, maxMessages: 2000 });
    const t0 = performance.now();
    const stats = await client.consume(queue, () => {}, { concurrency: 64, maxMessages: count });
    const rate = stats.acked / (performance.now() - t0) * 1000;
    return rate;
  } finally {
    await client.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");

console.error(`load average before: ${load()}`);
const nodes = await Nodes.start({
  count: 3,
  storage: "fsync",
  keepLogs: false,
  ...(values.main === undefined ? {} : { main: values.main }),
});
try {
  const out: Record<string, number[]> = {};
  const add = (k: string, v: number) => (out[k] ??= []).push(v);
  const serverCpuUs = () => nodes.live().reduce((sum, id) => sum + cpuUs(nodes.pid(id)!), 0);
  for (let run = 0; run < RUNS; run++) {
    const url = nodes.url(await nodes.waitLeader());
    const stream = await StreamConnection.open(url);
    try {
      const kinds = (["http", "stream"] as const).filter((k) => values.transports.includes(k));
      for (const kind of kinds) {
        const send = kind === "http" ? httpSend(url) : streamSend(stream);
        const q = `b-${kind}-${run}`;
        await stream.request("PUT", `/v1/queues/${q}`, {}, "{}");
        const seq = await sequential(send, q, Number(values.sequential));
        add(`${kind} sequential/s`, seq.rate);
        add(`${kind} sequential p50 ms`, seq.p50);
        add(`${kind} sequential p99 ms`, seq.p99);
        const many = await inflight(
          send,
          q,
          Number(values.inflight),
          serverCpuUs,
          () => entriesOf(url),
        );
        add(`${kind} 256 in flight/s`, many.rate);
        add(`${kind} 256 in flight server CPU us/msg`, many.cpuUsPerMsg);
        add(`${kind} 256 in flight entries/msg x1000`, many.entriesPerMsg * 1000);
        add(`${kind} batched 100/s`, await batched(send, q, Number(values.batched)));
        add(
          `${kind} consume+ack/s`,
          await consumeAck(url, kind, `c-${kind}-${run}`, Number(values.consume)),
        );
        console.error(`run ${run + 1} ${kind}: ${
          JSON.stringify(Object.fromEntries(
            Object.entries(out).filter(([k]) => k.startsWith(kind)).map((
              [k, v],
            ) => [k, v.at(-1)!.toFixed(2)]),
          ))
        }`);
      }
    } finally {
      await stream.close();
    }
  }
  const medians = Object.fromEntries(
    Object.entries(out).map(([k, v]) => [k, Number(median(v).toFixed(k.includes("ms") ? 2 : 0))]),
  );
  console.log(JSON.stringify({ runs: RUNS, medians, loadAfter: load() }));
} finally {
  await nodes.stop();
}
