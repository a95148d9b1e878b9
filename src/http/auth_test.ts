import assert from "node:assert/strict";
import { compilePattern, constantTimeEqual, loadAuthenticator } from "./auth.ts";
import { call, localApp } from "./testing/call.ts";

const AUTH_FILE = JSON.stringify({
  tokens: [
    { name: "producer", token: "prod-token-1", publish: ["orders.*", "topic:events"] },
    { name: "consumer", token: "cons-token-1", consume: ["queue:orders.*"] },
    { name: "ops", token: "ops-token-123", admin: ["*"] },
  ],
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function securedApp() {
  const auth = await loadAuthenticator(AUTH_FILE);
  const t = localApp({}, { auth });
  assert.equal(
    (await call(t.app, "PUT", "/v1/queues/orders.eu", {}, bearer("ops-token-123")))
      .status,
    201,
  );
  return t;
}

Deno.test("auth off: every route works without a token", async () => {
  const { app } = localApp();
  assert.equal((await call(app, "PUT", "/v1/queues/q")).status, 201);
  assert.equal((await call(app, "GET", "/metrics")).status, 200);
});

Deno.test("auth on: 401 without a token or with a bad one, with WWW-Authenticate", async () => {
  const { app } = await securedApp();
  const none = await call(app, "POST", "/v1/queues/orders.eu/messages", { body: 1 });
  assert.equal(none.status, 401);
  assert.equal(none.body.type, "unauthorized");
  assert.match(none.headers.get("www-authenticate")!, /^Bearer/);
  const bad = await call(app, "POST", "/v1/queues/orders.eu/messages", { body: 1 }, bearer("x"));
  assert.equal(bad.status, 401);
  assert.match(bad.body.detail, /not valid/);
  const basic = await call(app, "GET", "/v1/queues", undefined, { authorization: "Basic eDp5" });
  assert.equal(basic.status, 401);
  for (const open of ["/healthz", "/readyz", "/openapi.json"]) {
    assert.equal((await call(app, "GET", open)).status, 200, open);
  }
});

Deno.test("auth on: 403 without the permission on the name, 2xx with it", async () => {
  const { app } = await securedApp();
  const prod = bearer("prod-token-1");
  const cons = bearer("cons-token-1");
  assert.equal(
    (await call(app, "POST", "/v1/queues/orders.eu/messages", { body: 1 }, prod)).status,
    201,
  );
  const denied = await call(app, "POST", "/v1/queues/orders.eu/receive", {}, prod);
  assert.equal(denied.status, 403);
  assert.equal(denied.body.type, "forbidden");
  assert.match(denied.body.detail, /producer may not consume on queue orders\.eu/);
  assert.equal((await call(app, "POST", "/v1/queues/orders.eu/receive", {}, cons)).status, 200);
  assert.equal((await call(app, "PUT", "/v1/queues/orders.us", {}, prod)).status, 403);
  assert.equal((await call(app, "GET", "/metrics", undefined, cons)).status, 403);
  assert.equal((await call(app, "GET", "/v1/cluster", undefined, prod)).status, 403);
  assert.equal(
    (await call(app, "GET", "/v1/cluster", undefined, bearer("ops-token-123"))).status,
    200,
  );
  // The consumer's pattern is for queues only: a topic of the same name is not covered.
  const topic = await call(app, "GET", "/v1/topics/orders.eu/messages", undefined, cons);
  assert.equal(topic.status, 403);
  // Lists show only what the token can see.
  const list = await call(app, "GET", "/v1/queues", undefined, cons);
  assert.deepEqual(list.body.queues.map((q: { name: string }) => q.name), ["orders.eu"]);
  // Transactions check every item.
  const tx = await call(app, "POST", "/v1/transactions", {
    publish: [{ queue: "orders.eu", body: 1 }, { queue: "secret", body: 2 }],
  }, prod);
  assert.equal(tx.status, 403);
});

Deno.test("loadAuthenticator() refuses malformed files with the reason", async () => {
  await assert.rejects(loadAuthenticator("{"), /Cannot parse the auth file/);
  await assert.rejects(loadAuthenticator('{"tokens":[]}'), /tokens/);
  await assert.rejects(
    loadAuthenticator('{"tokens":[{"name":"a","token":"short"}]}'),
    /tokens\.0\.token: must be at least 8/,
  );
  await assert.rejects(
    loadAuthenticator('{"tokens":[{"name":"a","token":"longenough","write":["*"]}]}'),
    /write/,
  );
});

Deno.test("compilePattern() matches * as any run, kind prefixes, and escapes regex", () => {
  const p = compilePattern("orders.*");
  assert.ok(p.regex.test("orders.eu"));
  assert.ok(!p.regex.test("ordersXeu"), "the dot is literal");
  assert.ok(!p.regex.test("my-orders.eu"), "anchored");
  assert.equal(compilePattern("topic:a*").kind, "topic");
  assert.equal(compilePattern("*").all, true);
  assert.equal(compilePattern("queue:*").all, false);
});

Deno.test("constantTimeEqual() compares whole arrays", () => {
  assert.ok(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])));
  assert.ok(!constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4])));
  assert.ok(!constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3])));
});
