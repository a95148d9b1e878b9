/**
 * Random requests on the hot routes, each sent to two like nodes: one whose requests go through
 * Hono's routes and middlewares (CORS on), one whose requests take the direct path (`direct.ts`).
 * Both apply the same requests in the same order, so every answer must be the same: status,
 * headers that matter and body. `direct_test.ts` holds the cases written by hand.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { memoryLogger } from "../log.ts";
import { createApp } from "./app.ts";
import { LocalNode } from "./testing/local_node.ts";

const PATHS = [
  "/v1/queues/q/messages",
  "/v1/queues/q/receive",
  "/v1/queues/q/ack",
  "/v1/queues/q/nack",
  "/v1/queues/q/extend",
  "/v1/queues/nope/messages",
  "/v1/topics/t/messages",
  "/v1/topics/t/subscriptions/s/receive",
  "/v1/topics/t/subscriptions/s/ack",
  "/v1/topics/t/subscriptions/s/nack",
  "/v1/topics/t/subscriptions/s/extend",
  "/v1/topics/t/subscriptions/nope/ack",
];

const bodyArb = fc.oneof(
  // A plain publish or receive, the most common request.
  { weight: 3, arbitrary: fc.record({ body: fc.jsonValue({ maxDepth: 1 }) }) },
  { weight: 2, arbitrary: fc.record({ max: fc.integer({ min: 1, max: 3 }) }) },
  fc.json(),
  fc.string({ maxLength: 40 }),
  fc.record({
    body: fc.jsonValue({ maxDepth: 2 }),
    id: fc.oneof(fc.constantFrom("a", "b", "c"), fc.integer()),
    subject: fc.constantFrom("a.b", "a.*", "", "x"),
    delayMs: fc.oneof(fc.integer({ min: -5, max: 5 }), fc.string({ maxLength: 3 })),
    group: fc.oneof(fc.constantFrom("g1", "g2"), fc.integer()),
  }, { requiredKeys: [] }),
  fc.record({
    messages: fc.array(
      fc.record({ body: fc.jsonValue({ maxDepth: 1 }), id: fc.constantFrom("a", "d", "e") }, {
        requiredKeys: [],
      }),
      { maxLength: 4 },
    ),
  }),
  fc.record({
    receipts: fc.oneof(fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }), fc.jsonValue()),
    leaseMs: fc.oneof(fc.integer({ min: -1, max: 100_000 }), fc.jsonValue()),
    delayMs: fc.integer({ min: -1, max: 10 }),
    max: fc.oneof(fc.integer({ min: -1, max: 20 }), fc.jsonValue()),
  }, { requiredKeys: [] }),
);

const contentTypeArb = fc.constantFrom(
  "application/json",
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "application/x+json",
);

const headersArb = fc.oneof(
  { weight: 3, arbitrary: fc.record({ "content-type": contentTypeArb }) },
  fc.record({
    "content-type": contentTypeArb,
    "idempotency-key": fc.constantFrom("k1", "k2", "bad key", ""),
  }),
  fc.record({
    "content-type": contentTypeArb,
    // The session `appOf` opens is 4 (its entry's index); 5 is not open.
    "quorumq-session": fc.constantFrom("4/1/1", "4/2/1", "4/3/3", "5/1/1", "x", "4/1/2"),
  }),
  fc.record({
    "content-type": contentTypeArb,
    "idempotency-key": fc.constant("k3"),
    "quorumq-session": fc.constant("4/4/4"),
  }),
);

/** A node served by an app, with the queues and the subscription the paths name. */
async function appOf(cors: boolean) {
  const node = new LocalNode({ monoNowMs: () => 1_000, wallNowMs: () => 1_700_000_000_000 });
  const log = memoryLogger("error");
  const app = createApp({
    node,
    log,
    limits: { maxBodyBytes: 2048 },
    corsOrigins: cors ? ["https://app.example"] : [],
  });
  const headers = { "content-type": "application/json" };
  const made = [
    ["PUT", "/v1/queues/q", "{}"],
    ["PUT", "/v1/topics/t", "{}"],
    ["PUT", "/v1/topics/t/subscriptions/s", '{"startAt":"earliest"}'],
    ["POST", "/v1/sessions", "{}"],
  ];
  for (const [method, path, body] of made) {
    const res = await app.request(path, { method, headers, body });
    assert.equal(res.status, 201, await res.text());
  }
  return { app, log };
}

async function answerOf(res: Response) {
  const headers: Record<string, string | null> = {};
  for (const name of ["content-type", "idempotent-replayed", "retry-after", "connection"]) {
    headers[name] = res.headers.get(name);
  }
  return { status: res.status, headers, text: await res.text() };
}

Deno.test("random requests on the hot routes get the same answer direct and through Hono", async () => {
  const hono = await appOf(true);
  const direct = await appOf(false);
  let writes = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...PATHS),
      bodyArb,
      headersArb,
      fc.boolean(),
      async (path, body, headers, noBody) => {
        const text = typeof body === "string" ? body : JSON.stringify(body);
        const init = () => ({ method: "POST", headers, ...(noBody ? {} : { body: text }) });
        const viaHono = await answerOf(await hono.app.request(path, init()));
        const viaDirect = await answerOf(await direct.app.request(path, init()));
        assert.deepEqual(viaDirect, viaHono, `${path} ${JSON.stringify(headers)} ${text}`);
        if (viaHono.status < 300) writes++;
      },
    ),
    { numRuns: 500, seed: 20261207 },
  );
  // Not only refusals: the generators reach the writes too.
  assert.ok(writes > 20, `only ${writes} requests succeeded`);
  for (const { log } of [hono, direct]) {
    assert.deepEqual(log.lines.filter((l) => l.event === "request_failed"), []);
  }
});
