import assert from "node:assert/strict";
import { main } from "./main.ts";
import type { Io } from "./io.ts";
import { TestBroker } from "../http/testing/test_broker.ts";

function run(broker: TestBroker, argv: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const io: Io = {
    out: (line) => out.push(line),
    err: (text) => out.push(`ERR ${text}`),
    errIsTerminal: false,
    async *stdinLines() {},
    env: () => undefined,
    signal: new AbortController().signal,
    fetch: broker.fetch,
    exec: () => Promise.resolve(0),
  };
  return main(["--nodes", "http://test", ...argv], io).then((code) => ({ code, out }));
}

async function send(broker: TestBroker, method: string, path: string, body: unknown) {
  const res = await broker.fetch(`http://test${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return await res.json();
}

/** `jobs` dead-letters into `jobs.dlq` after one delivery; two messages are dead there. */
async function withDead(): Promise<TestBroker> {
  const broker = new TestBroker();
  await send(broker, "PUT", "/v1/queues/jobs.dlq", {});
  await send(broker, "PUT", "/v1/queues/jobs", { maxDeliveries: 1, deadLetterQueue: "jobs.dlq" });
  await send(broker, "POST", "/v1/queues/jobs/messages", {
    messages: [{ body: "a" }, { body: "b" }],
  });
  const { messages } = await send(broker, "POST", "/v1/queues/jobs/receive", { max: 10 });
  await send(broker, "POST", "/v1/queues/jobs/nack", {
    receipts: messages.map((m: { receipt: string }) => m.receipt),
  });
  return broker;
}

Deno.test("mq peek shows dead messages; mq redrive --seq moves one, mq redrive the rest", async () => {
  const broker = await withDead();
  const peeked = await run(broker, ["peek", "jobs.dlq", "--json"]);
  assert.equal(peeked.code, 0);
  const rows = peeked.out.map((l) => JSON.parse(l));
  assert.deepEqual(rows.map((m) => [m.body, m.state]), [["a", "ready"], ["b", "ready"]]);
  const one = await run(broker, ["redrive", "jobs.dlq", "--seq", String(rows[0].seq)]);
  assert.deepEqual(one, { code: 0, out: ["redriven 1 messages"] });
  const rest = await run(broker, ["redrive", "jobs.dlq", "--json"]);
  assert.deepEqual(JSON.parse(rest.out[0]), { redriven: 1, skipped: [] });
  assert.equal(broker.queue("jobs")!.stats.ready, 2);
  assert.equal(broker.queue("jobs.dlq")!.stats.ready, 0);
});

Deno.test("mq purge needs --yes, then empties the queue", async () => {
  const broker = await withDead();
  const refused = await run(broker, ["purge", "jobs.dlq"]);
  assert.equal(refused.code, 2);
  assert.equal(broker.queue("jobs.dlq")!.stats.ready, 2);
  const done = await run(broker, ["purge", "jobs.dlq", "--yes"]);
  assert.deepEqual(done, { code: 0, out: ["purged 2 messages"] });
  assert.equal(broker.queue("jobs.dlq")!.stats.ready, 0);
});
