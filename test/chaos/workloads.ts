/**
 * The chaos workloads, run through the real client against real nodes, every operation recorded
 * in the history:
 * 1. `q:eo`, exactly-once: unique ids, producers retry an unknown outcome with the same ids,
 *    consumers ack;
 * 2. `q:fifo`, at-least-once with fifo groups;
 * 3. `t:events` with three subscriptions `s:events/s1..s3`;
 * 4. `q:txsrc` → `q:txdst`: a mover acks each message and publishes its copy in one transaction.
 *
 * @module
 */

import { Client, QuorumqError, StreamPool } from "../../src/client/mod.ts";
import type {
  NewMessage,
  PublishResult,
  ReceivedMessage,
  SettleResult,
  Source,
} from "../../src/client/mod.ts";
import type { History, Outcome, Published, Settling, SourceConfig } from "./history.ts";

/** Per source: its promise and the targets that feed it (see `history.ts`). */
export const SOURCES: Record<string, SourceConfig> = {
  "q:eo": { mode: "exactly_once", fifo: false, fedBy: ["q:eo"] },
  "q:fifo": { mode: "at_least_once", fifo: true, fedBy: ["q:fifo"] },
  "s:events/s1": { mode: "at_least_once", fifo: false, fedBy: ["t:events"] },
  "s:events/s2": { mode: "at_least_once", fifo: false, fedBy: ["t:events"] },
  "s:events/s3": { mode: "exactly_once", fifo: false, fedBy: ["t:events"] },
  "q:txsrc": { mode: "exactly_once", fifo: false, fedBy: ["q:txsrc"] },
  "q:txdst": { mode: "exactly_once", fifo: false, fedBy: ["q:txdst"] },
};

/** Long enough for every retry of a run (ids must stay remembered while producers retry). */
const DEDUP_WINDOW_MS = 6 * 3600 * 1000;
/** Short leases, so messages leased by lost receives come back within the drain. */
export const LEASE_MS = 4_000;
const DELIVERIES_MAX = 1_000_000;

/**
 * The client settings of every worker: short attempts so faults surface as unknown outcomes.
 * With `stream`, every request (long polls too) rides one stream per node (`StreamPool.fetch`),
 * still through the same recording `fetch`; a node killed under it loses the stream with
 * requests in flight.
 */
export function workerClient(
  urls: string[],
  onAnswer: (url: string) => void,
  transport: "http" | "stream" = "http",
): Client {
  const send = transport === "stream"
    ? new StreamPool(undefined, 0, undefined, { followLeader: false }).fetch
    : fetch;
  const fetcher: typeof fetch = async (input, init) => {
    const res = await send(input, init);
    onAnswer(new URL(typeof input === "string" ? input : (input as Request).url).host);
    return res;
  };
  return new Client({
    nodes: urls,
    timeoutMs: 3_000,
    retry: { attempts: 6, totalMs: 6_000, baseDelayMs: 50, maxDelayMs: 500 },
    fetch: fetcher,
  });
}

/** Creates the queues, topic and subscriptions (idempotent PUTs, retried by the client). */
export async function setUp(client: Client): Promise<void> {
  const common = { dedupWindowMs: DEDUP_WINDOW_MS, leaseMs: LEASE_MS };
  const cfg = { ...common, maxDeliveries: DELIVERIES_MAX };
  await client.createQueue("eo", { ...cfg, deliveryMode: "exactly_once" });
  await client.createQueue("fifo", { ...cfg, deliveryMode: "at_least_once", fifo: true });
  await client.createQueue("txsrc", { ...cfg, deliveryMode: "exactly_once" });
  await client.createQueue("txdst", { ...cfg, deliveryMode: "exactly_once" });
  await client.topics.create("events", { dedupWindowMs: DEDUP_WINDOW_MS });
  for (
    const [s, mode] of [["s1", "at_least_once"], ["s2", "at_least_once"], [
      "s3",
      "exactly_once",
    ]] as const
  ) {
    await client.subscriptions.create("events", s, {
      startAt: "earliest",
      deliveryMode: mode,
      leaseMs: LEASE_MS,
      maxDeliveries: DELIVERIES_MAX,
      dedupWindowMs: DEDUP_WINDOW_MS,
    });
  }
}

/** The client's name for a history source. */
export function clientSource(source: string): Source {
  if (source.startsWith("q:")) return source.slice(2);
  const [topic, subscription] = source.slice(2).split("/");
  return { topic, subscription };
}

/** How an error ends an operation: a 4xx answer was not applied; anything else may have been. */
export function outcomeOf(e: unknown): Outcome {
  if (e instanceof QuorumqError && e.status >= 400 && e.status < 500 && e.status !== 408) {
    return "fail";
  }
  return "unknown";
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Shared run state: when producers stop, when consumers stop, backlog per target. */
export class Control {
  producing = true;
  consuming = true;
  /** Publishes answered ok minus acks answered acked, per target (a rough backlog). */
  readonly backlog = new Map<string, number>();

  add(target: string, n: number): void {
    this.backlog.set(target, (this.backlog.get(target) ?? 0) + n);
  }
}

/** One worker's view: its client, the history, and which node answered last. */
export class Worker {
  readonly client: Client;
  lastNode = "";

  constructor(
    readonly name: string,
    readonly history: History,
    readonly control: Control,
    urls: string[],
    readonly nodeOf: (host: string) => string,
    transport: "http" | "stream" = "http",
  ) {
    this.client = workerClient(urls, (host) => this.lastNode = this.nodeOf(host), transport);
  }

  /** Runs one recorded operation: invoke, then ok (with extra fields) or fail/unknown. */
  async op<T>(
    invoke: (opId: number) => void,
    run: () => Promise<T>,
    ok: (value: T, opId: number) => void,
  ): Promise<{ ok: true; value: T } | { ok: false; outcome: Outcome }> {
    const opId = this.history.opId();
    invoke(opId);
    try {
      const value = await run();
      ok(value, opId);
      return { ok: true, value };
    } catch (e) {
      const outcome = outcomeOf(e);
      this.history.add({
        type: "complete",
        t: this.history.now(),
        opId,
        outcome,
        node: this.lastNode,
        error: String((e as Error)?.message ?? e).slice(0, 200),
      });
      return { ok: false, outcome };
    }
  }
}

/**
 * Publishes batches of unique ids to `target` until producing stops; a batch whose outcome is
 * unknown is sent again with the same ids (a new operation), until it is answered.
 */
export async function producer(
  w: Worker,
  target: string,
  batch: number,
  group?: (n: number) => string,
  backlogMax = 1_500,
): Promise<void> {
  let n = 0;
  while (w.control.producing) {
    if ((w.control.backlog.get(target) ?? 0) > backlogMax) {
      await sleep(50);
      continue;
    }
    const msgs: Published[] = [];
    for (let i = 0; i < batch; i++, n++) {
      const g = group?.(n);
      msgs.push({ target, id: `${w.name}-${n}`, ...(g === undefined ? {} : { group: g }) });
    }
    await publishUntilAnswered(w, msgs);
  }
}

async function publishUntilAnswered(w: Worker, msgs: Published[]): Promise<void> {
  const target = msgs[0].target;
  const body: NewMessage[] = msgs.map((m) => ({
    id: m.id,
    body: { id: m.id },
    ...(m.group === undefined ? {} : { group: m.group }),
  }));
  const name = target.slice(2);
  // Retry while the outcome is unknown: the same ids make every retry safe (promise 2).
  for (let attempt = 0; attempt < 1_000; attempt++) {
    const r = await w.op<PublishResult[]>(
      (opId) =>
        w.history.add({
          type: "invoke",
          t: w.history.now(),
          op: "publish",
          opId,
          p: w.name,
          messages: msgs,
        }),
      () =>
        target.startsWith("t:")
          ? w.client.topics.publishBatch(name, body)
          : w.client.publishBatch(name, body),
      (results, opId) =>
        w.history.add({
          type: "complete",
          t: w.history.now(),
          opId,
          outcome: "ok",
          node: w.lastNode,
          seqs: results.map((x) => x.seq),
        }),
    );
    if (r.ok) {
      w.control.add(target, msgs.length);
      return;
    }
    if (r.outcome === "fail") return;
    await sleep(100);
  }
}

/**
 * Receives and acks from `source` until consuming stops. A consumer with `stallChance` sometimes
 * sleeps past its lease before acking (docs/reliability.md item 10): that ack must come back `stale`
 * and must not settle the redelivery another consumer holds by then.
 */
export async function consumer(
  w: Worker,
  source: string,
  max = 50,
  stallChance = 0,
  random: () => number = Math.random,
): Promise<void> {
  const src = clientSource(source);
  while (w.control.consuming) {
    const got = await receiveOnce(w, source, src, max);
    if (got === undefined) {
      await sleep(200);
      continue;
    }
    if (got.length === 0) continue;
    if (w.control.producing && random() < stallChance) await sleep(LEASE_MS + 1_000);
    const items = got.map((m) => settling(source, m));
    await w.op<SettleResult[]>(
      (opId) =>
        w.history.add({ type: "invoke", t: w.history.now(), op: "ack", opId, p: w.name, items }),
      () => w.client.ack(src, got.map((m) => m.receipt)),
      (res, opId) => {
        const statuses = res.map((x) => x.status);
        w.history.add({
          type: "complete",
          t: w.history.now(),
          opId,
          outcome: "ok",
          node: w.lastNode,
          statuses,
        });
        const acked = statuses.filter((s) => s === "acked").length;
        for (const t of SOURCES[source].fedBy) w.control.add(t, -acked);
      },
    );
  }
}

/** One recorded receive; undefined when it failed. */
export async function receiveOnce(
  w: Worker,
  source: string,
  src: Source,
  max: number,
): Promise<ReceivedMessage[] | undefined> {
  const r = await w.op<ReceivedMessage[]>(
    (opId) =>
      w.history.add({
        type: "invoke",
        t: w.history.now(),
        op: "receive",
        opId,
        p: w.name,
        source,
      }),
    () => w.client.receive(src, { max, waitMs: 500, leaseMs: LEASE_MS }),
    (msgs, opId) =>
      w.history.add({
        type: "complete",
        t: w.history.now(),
        opId,
        outcome: "ok",
        node: w.lastNode,
        msgs: msgs.map((m) => ({
          id: m.id,
          seq: m.seq,
          attempt: m.attempt,
          ...(m.group ? { group: m.group } : {}),
        })),
      }),
  );
  return r.ok ? r.value : undefined;
}

export function settling(source: string, m: ReceivedMessage): Settling {
  return {
    source,
    id: m.id,
    seq: m.seq,
    attempt: m.attempt,
    ...(m.group ? { group: m.group } : {}),
  };
}

/**
 * Moves messages from `q:txsrc` to `q:txdst`: per message one transaction that acks it and
 * publishes a copy with a fresh id, so a message moved twice shows as two copies.
 */
export async function mover(w: Worker): Promise<void> {
  let nonce = 0;
  while (w.control.consuming) {
    const got = await receiveOnce(w, "q:txsrc", "txsrc", 10);
    if (got === undefined) {
      await sleep(200);
      continue;
    }
    await Promise.all(got.map((m) => moveOne(w, m, `${m.id}~${w.name}.${nonce++}`)));
  }
}

async function moveOne(w: Worker, m: ReceivedMessage, copyId: string): Promise<void> {
  const items = [settling("q:txsrc", m)];
  const messages: Published[] = [{ target: "q:txdst", id: copyId, from: m.id }];
  await w.op(
    (opId) =>
      w.history.add({
        type: "invoke",
        t: w.history.now(),
        op: "txn",
        opId,
        p: w.name,
        items,
        messages,
      }),
    () =>
      w.client.transaction({
        ack: [{ queue: "txsrc", receipt: m.receipt }],
        publish: [{ queue: "txdst", id: copyId, body: { from: m.id } }],
      }),
    (res, opId) => {
      w.history.add({
        type: "complete",
        t: w.history.now(),
        opId,
        outcome: "ok",
        node: w.lastNode,
        seqs: (res.publish ?? []).map((x) => x.seq),
        statuses: (res.ack ?? []).map((x) => x.status),
      });
      w.control.add("q:txsrc", -1);
      w.control.add("q:txdst", 1);
    },
  );
}

/** Reads a queue's stats (linearizable, the default) every 100 ms while producing. */
export async function reader(w: Worker, source: string): Promise<void> {
  const queue = source.slice(2);
  while (w.control.producing) {
    await w.op(
      (opId) =>
        w.history.add({ type: "invoke", t: w.history.now(), op: "read", opId, p: w.name, source }),
      () => w.client.getQueue(queue),
      (info, opId) =>
        w.history.add({
          type: "complete",
          t: w.history.now(),
          opId,
          outcome: "ok",
          node: w.lastNode,
          published: Number(info.published ?? 0),
        }),
    );
    await sleep(100);
  }
}
