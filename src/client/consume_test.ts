import assert from "node:assert/strict";
import { Client } from "./client.ts";
import { TestBroker } from "../http/testing/test_broker.ts";
import { QueueNotFound } from "./errors.ts";
import { ackWasLost, buildTransaction } from "./exactly_once.ts";
import { TransactionFailed } from "./errors.ts";
import type { ReceivedMessage } from "./types.ts";
import {
  adaptivePrefetch,
  maxSettling,
  PREFETCH_ADAPTIVE_BYTES,
  PREFETCH_ADAPTIVE_MAX,
} from "./consume.ts";

const noSleep = () => Promise.resolve();
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function setup(queues: string[], messages: number) {
  const broker = new TestBroker();
  const client = new Client({ nodes: ["http://a:1"], fetch: broker.fetch, sleep: noSleep });
  for (const queue of queues) await client.createQueue(queue);
  const ids = messages === 0 ? [] : (await client.publishBatch(
    queues[0],
    Array.from({ length: messages }, (_, i) => ({ body: i })),
  )).map((r) => r.id);
  return { broker, client, ids };
}

/** Every message published to `queue` was acked and none is left. */
function allAcked(broker: TestBroker, queue: string): boolean {
  const { stats } = broker.queue(queue)!;
  return stats.acked === stats.published && stats.ready + stats.leased + stats.delayed === 0;
}

const paths = (broker: TestBroker, suffix: string) =>
  broker.seen.filter((s) => s.path.endsWith(suffix));

Deno.test("consume() acks every handled message and stops at maxMessages", async () => {
  const { broker, client } = await setup(["jobs"], 10);
  const bodies: unknown[] = [];
  const stats = await client.consume("jobs", (m) => {
    bodies.push(m.body);
  }, { concurrency: 3, waitMs: 50, maxMessages: 10 });
  assert.deepEqual(bodies.toSorted((a, b) => Number(a) - Number(b)), [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
  ]);
  assert.deepEqual(stats, { received: 10, acked: 10, nacked: 0, lost: 0, errors: 0 });
  assert.ok(allAcked(broker, "jobs"));
  // At most `concurrency` messages are asked for at once.
  assert.ok(paths(broker, "/receive").every((s) => (s.body as { max: number }).max <= 3));
});

Deno.test("consume() nacks a failed message with a backoff delay, and the retry succeeds", async () => {
  const { broker, client } = await setup(["jobs"], 1);
  const attempts: number[] = [];
  const errors: unknown[] = [];
  const stats = await client.consume("jobs", (m) => {
    attempts.push(m.attempt);
    if (m.attempt === 1) throw new Error("first try fails");
  }, {
    waitMs: 200,
    maxMessages: 2,
    baseBackoffMs: 40,
    maxBackoffMs: 1000,
    onError: (e) => errors.push(e),
  });
  assert.deepEqual(attempts, [1, 2]);
  assert.deepEqual(stats, { received: 2, acked: 1, nacked: 1, lost: 0, errors: 0 });
  const [nack] = paths(broker, "/nack");
  const delayMs = (nack.body as { delayMs: number }).delayMs;
  assert.ok(delayMs >= 20 && delayMs <= 40, `nack delay ${delayMs} ms for attempt 1, base 40`);
  assert.equal((errors[0] as Error).message, "first try fails");
});

Deno.test("consume() extends the lease while a slow handler runs, so its ack is not stale", async () => {
  // The handler runs until the client has extended the lease three times (bounded), instead of
  // a fixed 2.6 leases of wall time: with a 100 ms lease a loaded machine's event-loop stall could
  // end the lease on the broker's real clock before the next extension was even sent.
  const { broker, client } = await setup(["jobs"], 1);
  const leaseMs = 600;
  const slowHandler = async () => {
    for (let i = 0; i < 200 && paths(broker, "/extend").length < 3; i++) await delay(25);
  };
  const stats = await client.consume("jobs", slowHandler, { leaseMs, waitMs: 50, maxMessages: 1 });
  assert.deepEqual(stats, { received: 1, acked: 1, nacked: 0, lost: 0, errors: 0 });
  const extends_ = paths(broker, "/extend");
  assert.ok(extends_.length >= 3, `${extends_.length} extensions while the handler ran`);
  assert.ok(extends_.every((s) => (s.body as { leaseMs: number }).leaseMs === leaseMs));
});

Deno.test("consume() extends every running handler's lease, each on its own, and only while it runs", async () => {
  const { broker, client } = await setup(["jobs"], 3);
  const leaseMs = 600;
  const receiptsExtended = () =>
    paths(broker, "/extend").flatMap((s) => (s.body as { receipts: string[] }).receipts);
  const received: ReceivedMessage[] = [];
  // The first handler ends at once; the other two run until each lease was extended twice.
  const stats = await client.consume("jobs", async (m) => {
    received.push(m);
    if (m.body === 0) return;
    const twice = () => receiptsExtended().filter((r) => r === m.receipt).length >= 2;
    for (let i = 0; i < 400 && !twice(); i++) await delay(25);
  }, { leaseMs, concurrency: 3, waitMs: 50, maxMessages: 3 });
  assert.deepEqual(stats, { received: 3, acked: 3, nacked: 0, lost: 0, errors: 0 });
  const extended = receiptsExtended();
  const count = (m: ReceivedMessage) => extended.filter((r) => r === m.receipt).length;
  const [quick, ...slow] = received.toSorted((a, b) => Number(a.body) - Number(b.body));
  assert.equal(count(quick), 0);
  for (const m of slow) assert.ok(count(m) >= 2, `${count(m)} extensions of ${m.body}`);
});

Deno.test("consume(): a handler that reads its signal only after the lease was lost or the consumer stopped sees it aborted", async () => {
  for (const why of ["lost", "stop"] as const) {
    const { broker, client } = await setup(["jobs"], 1);
    const controller = new AbortController();
    let seen: { aborted: boolean; reason: unknown } | undefined;
    await client.consume("jobs", async (_m, context) => {
      if (seen !== undefined) return; // a redelivery
      if (why === "lost") {
        // The lease runs out under the handler; the signal is read once the loss was seen.
        broker.advance(1_000_000);
        for (let i = 0; i < 200 && paths(broker, "/extend").length === 0; i++) await delay(10);
        await delay(20);
        controller.abort(new Error("done"));
      } else {
        controller.abort(new Error("stop"));
      }
      const { signal } = context;
      seen = { aborted: signal.aborted, reason: signal.reason };
    }, { leaseMs: 60, waitMs: 50, signal: controller.signal, drainMs: 2_000 });
    assert.equal(seen?.aborted, true, why);
    assert.match(String(seen?.reason), why === "lost" ? /was lost/ : /stop/);
  }
});

Deno.test("consume() aborts the handler's signal when the lease is lost and does not ack", async () => {
  const { broker, client } = await setup(["jobs"], 1);
  let handlerSignal: AbortSignal | undefined;
  const stats = await client.consume("jobs", async (_m, { signal }) => {
    handlerSignal = signal;
    broker.advance(1_000_000); // the lease runs out under the handler
    for (let i = 0; i < 100 && !signal.aborted; i++) await delay(10);
    signal.throwIfAborted();
  }, { leaseMs: 60, waitMs: 50, maxMessages: 1 });
  assert.equal(handlerSignal?.aborted, true);
  assert.equal(stats.acked, 0);
  assert.equal(stats.lost, 1);
  assert.equal(paths(broker, "/ack").length, 0);
});

Deno.test("consume() on abort lets in-flight handlers finish and acks them, then resolves", async () => {
  const { broker, client } = await setup(["jobs"], 2);
  const controller = new AbortController();
  let sawAbort = 0;
  const stats = await client.consume("jobs", async (_m, { signal }) => {
    controller.abort();
    await delay(30);
    if (signal.aborted) sawAbort++;
  }, { concurrency: 2, waitMs: 50, signal: controller.signal });
  assert.equal(stats.received, 2);
  assert.equal(stats.acked, 2);
  assert.equal(sawAbort, 2);
  assert.ok(allAcked(broker, "jobs"));
});

Deno.test("consume() on abort nacks handlers still running after drainMs", async () => {
  const { broker, client } = await setup(["jobs"], 1);
  const controller = new AbortController();
  let release: () => void = () => {};
  const stuck = new Promise<void>((resolve) => release = resolve);
  const stats = await client.consume("jobs", () => {
    controller.abort();
    return stuck; // ignores its signal
  }, { waitMs: 50, drainMs: 30, signal: controller.signal });
  assert.deepEqual(stats, { received: 1, acked: 0, nacked: 1, lost: 0, errors: 0 });
  assert.equal(broker.queue("jobs")!.stats.ready, 1);
  release();
  await delay(10);
  assert.equal(paths(broker, "/ack").length, 0, "a handler given up on is never acked");
});

Deno.test("consume() stops with the error when the queue does not exist", async () => {
  const { client } = await setup([], 0);
  await assert.rejects(client.consume("nope", () => {}, { waitMs: 10 }), QueueNotFound);
});

Deno.test("consume() survives receive failures with backoff and carries on", async () => {
  const broker = new TestBroker();
  let failures = 3;
  const fetch: typeof globalThis.fetch = (input, init) => {
    if (String(input).endsWith("/receive") && failures-- > 0) {
      return Promise.resolve(
        new Response(JSON.stringify({ type: "no_leader", status: 503 }), {
          status: 503,
          headers: { "content-type": "application/problem+json", "retry-after": "0" },
        }),
      );
    }
    return broker.fetch(input, init);
  };
  const client = new Client({ nodes: ["http://a:1"], fetch, retry: { attempts: 1 } });
  await client.createQueue("jobs");
  await client.publish("jobs", { body: 1 });
  const stats = await client.consume("jobs", () => {}, {
    waitMs: 10,
    maxMessages: 1,
    baseBackoffMs: 5,
  });
  assert.equal(stats.errors, 3);
  assert.equal(stats.acked, 1);
});

Deno.test("consume() works on a topic subscription's paths", async () => {
  const seen: string[] = [];
  const message: ReceivedMessage = {
    seq: 1,
    id: "m",
    body: 1,
    headers: {},
    attempt: 1,
    receipt: "r1",
    leaseExpiresAt: 0,
    publishedAt: 0,
  };
  let served = false;
  const fetch: typeof globalThis.fetch = (input) => {
    const path = new URL(String(input)).pathname;
    seen.push(path);
    const body = path.endsWith("/receive")
      ? { messages: served ? [] : [message] }
      : { results: [{ receipt: "r1", status: "acked" }] };
    served = true;
    return Promise.resolve(
      new Response(JSON.stringify(body), { headers: { "content-type": "application/json" } }),
    );
  };
  // A scripted server that knows no sessions.
  const client = new Client({ nodes: ["http://a:1"], fetch, sessions: false });
  const stats = await client.consume({ topic: "t", subscription: "s" }, () => {}, {
    maxMessages: 1,
  });
  assert.equal(stats.acked, 1);
  assert.deepEqual(seen, [
    "/v1/topics/t/subscriptions/s/receive",
    "/v1/topics/t/subscriptions/s/ack",
  ]);
});

Deno.test("consumeExactlyOnce() commits the handler's publishes with the ack in one transaction", async () => {
  const { broker, client, ids } = await setup(["new-orders", "shipping"], 2);
  const stats = await client.consumeExactlyOnce("new-orders", (m) => [
    { queue: "shipping", body: { order: m.body } },
  ], { waitMs: 50, maxMessages: 2 });
  assert.deepEqual(stats, { received: 2, acked: 2, nacked: 0, lost: 0, errors: 0 });
  const transactions = paths(broker, "/v1/transactions");
  assert.equal(transactions.length, 2);
  assert.equal(paths(broker, "/ack").length, 0, "no separate ack outside the transaction");
  assert.equal(broker.queue("shipping")!.stats.published, 2);
  for (const id of ids) {
    assert.equal(broker.messageStatus("shipping", `new-orders:${id}:0`)?.state, "ready");
  }
  assert.ok(allAcked(broker, "new-orders"));
});

Deno.test("consumeExactlyOnce() moves on when the ack is stale: nothing is published", async () => {
  const { broker, client } = await setup(["new-orders", "shipping"], 1);
  const stats = await client.consumeExactlyOnce("new-orders", (m) => {
    broker.advance(1_000_000); // another consumer's turn now
    return [{ queue: "shipping", body: m.body }];
  }, { waitMs: 50, maxMessages: 1 });
  assert.deepEqual(stats, { received: 1, acked: 0, nacked: 0, lost: 1, errors: 0 });
  assert.equal(broker.queue("shipping")!.stats.published, 0);
  assert.equal(paths(broker, "/nack").length, 0);
});

Deno.test("consumeExactlyOnce() nacks when the transaction fails for another reason", async () => {
  const { broker, client } = await setup(["new-orders"], 1);
  const stats = await client.consumeExactlyOnce("new-orders", () => [
    { queue: "missing", body: 1 },
  ], { waitMs: 50, maxMessages: 1, baseBackoffMs: 10 });
  assert.deepEqual(stats, { received: 1, acked: 0, nacked: 1, lost: 0, errors: 1 });
  const queue = broker.queue("new-orders")!.stats;
  assert.equal(queue.ready + queue.delayed, 1, "nacked: back in the queue");
  assert.equal(queue.acked, 0);
});

Deno.test("buildTransaction() acks on the source and keeps given ids", () => {
  const message = { id: "m7", receipt: "r" } as ReceivedMessage;
  assert.deepEqual(
    buildTransaction({ topic: "t", subscription: "s" }, message, [
      { topic: "audit", body: 1 },
      { queue: "q", body: 2, id: "own" },
    ]),
    {
      ack: [{ topic: "t", subscription: "s", receipt: "r" }],
      publish: [{ topic: "audit", body: 1, id: "t/s:m7:0" }, { queue: "q", body: 2, id: "own" }],
    },
  );
});

Deno.test("ackWasLost() tells a stale ack from a failed publish", () => {
  const failed = (errors: unknown[]) =>
    new TransactionFailed({ type: "transaction_failed", errors }, 409);
  // The server's shape: { path: "ack[0]" | "publish[0]", message, reason }.
  assert.equal(ackWasLost(failed([{ path: "ack[0]", message: "m", reason: "stale" }])), true);
  assert.equal(ackWasLost(failed([{ path: "ack[1]", message: "m", reason: "not_found" }])), true);
  assert.equal(
    ackWasLost(failed([{ path: "publish[0]", message: "m", reason: "not_found" }])),
    false,
  );
  assert.equal(ackWasLost(failed([{ path: "ack[0]", message: "m", reason: "queue_full" }])), false);
  assert.equal(ackWasLost(failed([{ pointer: "/ack/0", status: "stale" }])), true);
});

Deno.test("consume: the default prefetch grows for fast handlers and stays at concurrency for slow ones", () => {
  // 64 handlers of 0.1 ms get through far more than 1000 in 3 s: the cap.
  assert.equal(adaptivePrefetch(64, 30_000, 0.1), PREFETCH_ADAPTIVE_MAX);
  // 8 handlers of 100 ms get through 240 in a tenth of a 30 s lease.
  assert.equal(adaptivePrefetch(8, 30_000, 100), 240);
  // 1 handler of 1 s: a prefetched message would wait a tenth of the lease at most with 3.
  assert.equal(adaptivePrefetch(1, 30_000, 1_000), 3);
  // Slower than a tenth of the lease: no more than the handlers themselves.
  assert.equal(adaptivePrefetch(4, 30_000, 10_000), 4);
  // A handler time of 0 (a synchronous handler) is the cap, not a division by zero.
  assert.equal(adaptivePrefetch(1, 1_000, 0), PREFETCH_ADAPTIVE_MAX);
  // Small messages: the count cap; large ones: what fits in PREFETCH_ADAPTIVE_BYTES.
  assert.equal(adaptivePrefetch(64, 30_000, 0.1, 450), PREFETCH_ADAPTIVE_MAX);
  assert.equal(adaptivePrefetch(64, 30_000, 0.1, 4096), PREFETCH_ADAPTIVE_BYTES / 4096);
  // Never below concurrency, whatever the size.
  assert.equal(adaptivePrefetch(64, 30_000, 0.1, 1024 * 1024), 64);
});

Deno.test("consume: settles on their way at most 4000 small messages, 64 MiB of large ones, never fewer than 1000", () => {
  assert.equal(maxSettling(undefined), 1000);
  assert.equal(maxSettling(450), 4000);
  assert.equal(maxSettling(32 * 1024), 2048);
  assert.equal(maxSettling(1024 * 1024), 1000);
});
