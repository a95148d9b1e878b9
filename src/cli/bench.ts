/**
 * `mq bench`: publish and consume load with concurrency, a live progress line on stderr, and a
 * summary with msgs/s and p50/p90/p99 request latency, per transport (the stream and HTTP), on
 * the leader, after a warm-up.
 *
 * @module
 */

import { Client, type NewMessage } from "../client/mod.ts";
import { type Command, type Context, UsageError } from "./command.ts";
import { intOption } from "./commands.ts";

/** The figures of one phase. */
export interface PhaseSummary {
  messages: number;
  requests: number;
  seconds: number;
  msgsPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
}

/** Nearest-rank percentile of ascending-sorted values (0 for none). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Summarises a phase from its request latencies. */
export function summarize(messages: number, latenciesMs: number[], seconds: number): PhaseSummary {
  const sorted = latenciesMs.toSorted((a, b) => a - b);
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    messages,
    requests: sorted.length,
    seconds: round(seconds),
    msgsPerSec: Math.round(messages / Math.max(seconds, 1e-9)),
    p50Ms: round(percentile(sorted, 50)),
    p90Ms: round(percentile(sorted, 90)),
    p99Ms: round(percentile(sorted, 99)),
  };
}

interface Load {
  queue: string;
  messages: number;
  concurrency: number;
  batch: number;
  payload: string;
}

/**
 * Runs `worker` on `concurrency` lanes while printing `\r<label> done/total rate` on stderr when
 * it is a terminal (in a pipe or a log, `\r` lines would pile up as garbage; the summary says it).
 */
async function phase(
  context: Context,
  label: string,
  load: Load,
  worker: (progress: { done: number; latencies: number[] }) => Promise<void>,
  show = true,
): Promise<PhaseSummary> {
  const progress = { done: 0, latencies: [] as number[] };
  const started = performance.now();
  const line = () => {
    const seconds = (performance.now() - started) / 1000;
    const rate = Math.round(progress.done / Math.max(seconds, 1e-3));
    context.io.err(`\r${label} ${progress.done}/${load.messages}  ${rate} msg/s   `);
  };
  const live = show && context.io.errIsTerminal;
  const timer = live ? setInterval(line, 250) : undefined;
  try {
    await Promise.all(Array.from({ length: load.concurrency }, () => worker(progress)));
  } finally {
    clearInterval(timer);
    if (live) {
      line();
      context.io.err("\n");
    }
  }
  return summarize(progress.done, progress.latencies, (performance.now() - started) / 1000);
}

function publishPhase(context: Context, load: Load, show: boolean): Promise<PhaseSummary> {
  let next = 0;
  return phase(context, "publish", load, async (progress) => {
    while (next < load.messages && !context.io.signal.aborted) {
      const count = Math.min(load.batch, load.messages - next);
      next += count;
      const messages: NewMessage[] = Array.from({ length: count }, () => ({ body: load.payload }));
      const started = performance.now();
      if (count === 1) await context.client.publish(load.queue, messages[0]);
      else await context.client.publishBatch(load.queue, messages);
      progress.latencies.push(performance.now() - started);
      progress.done += count;
    }
  }, show);
}

function consumePhase(context: Context, load: Load, show: boolean): Promise<PhaseSummary> {
  let idlePolls = 0;
  // Ends the other lanes' long polls as soon as the last message is in, so that they do not
  // add their wait to the measured time.
  const finished = new AbortController();
  const stop = () => finished.abort();
  context.io.signal.addEventListener("abort", stop, { once: true });
  return phase(context, "consume", load, async (progress) => {
    // Stop at the target, or after a few empty long polls in a row (nothing left to consume).
    while (progress.done < load.messages && idlePolls < 3 && !finished.signal.aborted) {
      const started = performance.now();
      const max = Math.min(load.batch, 1000);
      const messages = await context.client.receive(load.queue, {
        max,
        waitMs: 1000,
        signal: finished.signal,
      })
        .catch((error) => {
          if (finished.signal.aborted) return [];
          throw error;
        });
      if (messages.length === 0) {
        idlePolls++;
        continue;
      }
      idlePolls = 0;
      await context.client.ack(load.queue, messages.map((m) => m.receipt));
      progress.latencies.push(performance.now() - started);
      progress.done += messages.length;
      if (progress.done >= load.messages) finished.abort();
    }
  }, show).finally(() => context.io.signal.removeEventListener("abort", stop));
}

type Transport = "stream" | "http";

/**
 * The transports to measure: `--transport`, else both, except that a `fetch` seam (tests) can
 * only carry HTTP.
 */
function transportsOf(context: Context, given: unknown): Transport[] {
  const t = String(given ?? (context.io.fetch === undefined ? "both" : "http"));
  if (!["both", "stream", "http"].includes(t)) {
    throw new UsageError("--transport must be both, stream or http");
  }
  if (t !== "http" && context.io.fetch !== undefined) {
    throw new UsageError("--transport stream needs a real network (no fetch seam)");
  }
  return t === "both" ? ["http", "stream"] : [t as Transport];
}

/** The leader's URL when the cluster names one, else the given nodes. */
async function leaderNodes(context: Context): Promise<string[]> {
  const view = await context.client.cluster.view().catch(() => undefined);
  const url = view?.members.find((m) => m.id === view.leaderId)?.url;
  return url !== undefined ? [url] : context.nodes;
}

/** A client of `transport` on the leader (the context's own client for HTTP behind a seam). */
function clientFor(context: Context, transport: Transport, nodes: string[]): Client {
  if (context.io.fetch !== undefined) return context.client;
  const token = context.token === undefined ? {} : { token: context.token };
  // The stream dials with TCP_NODELAY: the client's default in Deno.
  return new Client({ nodes, ...token, transport });
}

/** Warm-up (not measured), then the publish and consume phases, on one transport. */
async function measure(
  context: Context,
  load: Load,
  mode: string,
): Promise<Record<string, unknown>> {
  // A queue of its own: a long poll cut short at the end of a phase may still lease a message.
  const warm = { ...load, queue: `${load.queue}-warm`, messages: Math.min(500, load.messages) };
  if (mode !== "consume") {
    await context.client.createQueue(warm.queue, { deliveryMode: "at_least_once" });
    await publishPhase(context, warm, false);
    await consumePhase(context, warm, false);
    await context.client.deleteQueue(warm.queue);
  }
  const result: Record<string, unknown> = {};
  if (mode !== "consume") result.publish = await publishPhase(context, load, true);
  if (mode !== "publish") result.consume = await consumePhase(context, load, true);
  return result;
}

/** The `bench` command. */
export const bench: Command = {
  name: "bench",
  usesSession: () => true,
  summary: "publish/consume load test: msgs/s and p50/p90/p99 latency",
  usage: "bench [options]",
  help: `Publishes --messages messages of --size bytes from --concurrency lanes, then consumes and
acks them, and prints msgs/s with p50/p90/p99 latency per request (a publish, or a receive plus
its ack). It sends to the leader, warms up first (500 messages, not measured), and measures each
transport in turn: the stream (/v1/stream) and HTTP. A live progress line goes to stderr.

Options:
  --queue <q>          queue to use (default: a fresh bench-<time> queue, deleted afterwards)
  --messages <n>       messages (default 10000)
  --concurrency <n>    concurrent requests (default 16)
  --size <bytes>       body size (default 256)
  --batch <n>          messages per publish / receive (default 1)
  --mode <m>           both | publish | consume (default both)
  --transport <t>      both | stream | http (default both; with --json, both gives
                       { http: {...}, stream: {...} }, one gives publish/consume at the top)`,
  options: {
    queue: { type: "string" },
    messages: { type: "string" },
    concurrency: { type: "string" },
    size: { type: "string" },
    batch: { type: "string" },
    mode: { type: "string" },
    transport: { type: "string" },
  },
  async run(context, values) {
    const mode = String(values.mode ?? "both");
    if (!["both", "publish", "consume"].includes(mode)) {
      throw new UsageError("--mode must be both, publish or consume");
    }
    const fresh = values.queue === undefined;
    const load: Load = {
      queue: (values.queue as string | undefined) ?? `bench-${Date.now().toString(36)}`,
      messages: intOption(values, "messages") ?? 10_000,
      concurrency: Math.max(1, intOption(values, "concurrency") ?? 16),
      batch: Math.max(1, intOption(values, "batch") ?? 1),
      payload: "x".repeat(intOption(values, "size") ?? 256),
    };
    const transports = transportsOf(context, values.transport);
    if (fresh || mode !== "consume") {
      await context.client.createQueue(load.queue, { deliveryMode: "at_least_once" });
    }
    const result: Record<string, unknown> = {
      queue: load.queue,
      concurrency: load.concurrency,
      batch: load.batch,
    };
    const nodes = await leaderNodes(context);
    for (const transport of transports) {
      const client = clientFor(context, transport, nodes);
      try {
        const figures = await measure({ ...context, client }, load, mode);
        if (transports.length === 1) Object.assign(result, { transport }, figures);
        else result[transport] = figures;
      } finally {
        if (client !== context.client) await client.close();
      }
    }
    if (fresh && mode === "both") await context.client.deleteQueue(load.queue);
    print(context, result);
    return 0;
  },
};

function print(context: Context, result: Record<string, unknown>): void {
  if (context.json) {
    context.io.out(JSON.stringify(result));
    return;
  }
  context.io.out(`queue ${result.queue}, concurrency ${result.concurrency}, batch ${result.batch}`);
  const groups = result.transport !== undefined
    ? [[result.transport as string, result] as const]
    : (["http", "stream"] as const).filter((t) => result[t] !== undefined)
      .map((t) => [t, result[t] as Record<string, unknown>] as const);
  for (const [transport, figures] of groups) {
    for (const name of ["publish", "consume"]) {
      const s = figures[name] as PhaseSummary | undefined;
      if (!s) continue;
      context.io.out(
        `${transport.padEnd(6)} ${name.padEnd(8)} ${s.messages} msgs in ${s.seconds} s = ` +
          `${s.msgsPerSec} msgs/s; latency p50 ${s.p50Ms} ms, p90 ${s.p90Ms} ms, ` +
          `p99 ${s.p99Ms} ms (${s.requests} requests)`,
      );
    }
  }
}
