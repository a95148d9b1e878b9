import assert from "node:assert/strict";
import fc from "fast-check";
import { memoryLogger } from "../log.ts";
import { createApp } from "./app.ts";
import { PROBLEMS } from "./problems.ts";
import { LocalNode } from "./testing/local_node.ts";

const PATHS = [
  "/v1/queues",
  "/v1/queues/q",
  "/v1/queues/q/messages",
  "/v1/queues/q/receive",
  "/v1/queues/q/ack",
  "/v1/queues/q/nack",
  "/v1/queues/q/extend",
  "/v1/queues/q/messages/m1",
  "/v1/topics/t",
  "/v1/topics/t/messages",
  "/v1/topics/t/subscriptions/s",
  "/v1/topics/t/subscriptions/s/receive",
  "/v1/topics/t/subscriptions/s/ack",
  "/v1/transactions",
  "/v1/cluster",
  "/v1/cluster/members",
  "/v1/cluster/members/n9",
  "/v1/cluster/leadership-transfer",
];

const bodyArb = fc.oneof(
  fc.json(),
  fc.string(),
  fc.record({
    body: fc.jsonValue(),
    id: fc.oneof(fc.string(), fc.integer()),
    delayMs: fc.oneof(fc.integer(), fc.double(), fc.string()),
    headers: fc.oneof(fc.dictionary(fc.string(), fc.string()), fc.jsonValue()),
  }, { requiredKeys: [] }),
  fc.record({
    receipts: fc.oneof(fc.array(fc.string()), fc.jsonValue()),
    leaseMs: fc.oneof(fc.integer(), fc.jsonValue()),
    max: fc.oneof(fc.integer(), fc.jsonValue()),
    waitMs: fc.integer({ min: -5, max: 5 }),
  }, { requiredKeys: [] }),
  fc.record({
    ack: fc.array(fc.record({ queue: fc.string(), receipt: fc.string() })),
    publish: fc.array(fc.record({ queue: fc.constant("q"), body: fc.jsonValue() })),
  }, { requiredKeys: [] }),
);

Deno.test("bad input never gets a 5xx: random bodies, methods and queries on every route", async () => {
  const node = new LocalNode();
  const log = memoryLogger("error");
  const app = createApp({ node, log });
  await app.request("/v1/queues/q", { method: "PUT" });
  await app.request("/v1/topics/t", { method: "PUT" });
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("GET", "PUT", "POST", "DELETE", "PATCH"),
      fc.constantFrom(...PATHS),
      bodyArb,
      fc.constantFrom("", "?consistency=stale", "?fromSeq=x", "?limit=99999", "?a=b"),
      fc.option(fc.string({ maxLength: 300 }), { nil: undefined }),
      async (method, path, body, search, idemKey) => {
        const headers = new Headers({ "content-type": "application/json" });
        if (idemKey !== undefined) {
          try {
            headers.set("idempotency-key", idemKey);
          } catch {
            // Not a legal header value at all: fetch itself refuses it.
          }
        }
        const payload = typeof body === "string" ? body : JSON.stringify(body);
        const hasBody = method !== "GET";
        const res = await app.request(path + search, {
          method,
          headers,
          body: hasBody ? payload : undefined,
        });
        const text = await res.text();
        assert.ok(
          res.status < 500,
          `${method} ${path}${search} ${payload} -> ${res.status} ${text}`,
        );
        if (res.status >= 400) {
          const problem = JSON.parse(text);
          assert.ok(problem.type in PROBLEMS, text);
          assert.equal(res.headers.get("content-type"), "application/problem+json");
        }
      },
    ),
    { numRuns: 400, seed: 424242 },
  );
  assert.deepEqual(log.lines.filter((l) => l.event === "request_failed"), []);
});
