import assert from "node:assert/strict";
import { loadAuthenticator } from "./auth.ts";
import type { AnonymousAccess } from "./authorize.ts";
import { createApp } from "./app.ts";
import { silentLogger } from "../log.ts";
import { call, localApp } from "./testing/call.ts";

const LOCKED: AnonymousAccess = {
  open: false,
  why: "cluster member without --auth-file: add --auth-file or --allow-anonymous",
};

/**
 * A locked app over a node that has queue `q`, topic `t` with subscription `s`, and a message
 * each, made through an open app over the same node (as another, trusted, node would).
 */
async function lockedApp(metricsPublic = false) {
  const { node, app: open } = localApp();
  for (
    const [method, path, body] of [
      ["PUT", "/v1/queues/q", {}],
      ["POST", "/v1/queues/q/messages", { body: 1 }],
      ["PUT", "/v1/topics/t", {}],
      ["PUT", "/v1/topics/t/subscriptions/s", {}],
      ["POST", "/v1/topics/t/messages", { body: 2 }],
    ] as const
  ) {
    const a = await call(open, method, path, body);
    assert.ok(a.status < 300, `${method} ${path}: ${JSON.stringify(a.body)}`);
  }
  const app = createApp({ node, log: silentLogger, anonymous: LOCKED, metricsPublic });
  return { node, app };
}

Deno.test("anonymous locked: every write and admin route answers 403 anonymous_refused with the flags", async () => {
  const { app } = await lockedApp();
  const refused: [string, string, unknown?][] = [
    ["PUT", "/v1/queues/q", {}],
    ["DELETE", "/v1/queues/q"],
    ["POST", "/v1/queues/q/messages", { body: 1 }],
    ["POST", "/v1/queues/q/receive", {}],
    ["POST", "/v1/queues/q/ack", { receipts: ["r"] }],
    ["POST", "/v1/queues/q/purge", {}],
    ["POST", "/v1/queues/q/redrive", {}],
    ["PUT", "/v1/topics/t", {}],
    ["POST", "/v1/topics/t/messages", { body: 1 }],
    ["PUT", "/v1/topics/t/subscriptions/s", {}],
    ["POST", "/v1/transactions", { publish: [{ queue: "q", body: 1 }] }],
    ["POST", "/v1/sessions", {}],
    ["DELETE", "/v1/idempotency-keys/k"],
    ["GET", "/v1/cluster"],
    ["POST", "/v1/cluster/members", { id: "n9", url: "http://127.0.0.1:9" }],
    ["DELETE", "/v1/cluster/members/n1", {}],
    ["POST", "/v1/cluster/leadership-transfer", {}],
    ["GET", "/metrics"],
  ];
  for (const [method, path, body] of refused) {
    const a = await call(app, method, path, body);
    assert.equal(a.status, 403, `${method} ${path}: ${JSON.stringify(a.body)}`);
    assert.equal(a.body.type, "anonymous_refused", `${method} ${path}`);
    assert.match(a.headers.get("content-type")!, /application\/problem\+json/);
    if (path === "/metrics") assert.match(a.body.detail, /--metrics-public/);
    else assert.equal(a.body.detail, LOCKED.why);
  }
});

Deno.test("anonymous locked: reads, probes and the API description stay open", async () => {
  const { app } = await lockedApp();
  for (
    const path of [
      "/healthz",
      "/readyz",
      "/openapi.json",
      "/v1/queues",
      "/v1/queues/q",
      "/v1/queues/q/peek",
      "/v1/topics/t",
      "/v1/topics/t/messages",
      "/v1/topics/t/subscriptions/s",
    ]
  ) {
    assert.equal((await call(app, "GET", path)).status, 200, path);
  }
});

Deno.test("anonymous locked: --metrics-public serves /metrics and nothing else", async () => {
  const { app } = await lockedApp(true);
  assert.equal((await call(app, "GET", "/metrics")).status, 200);
  assert.equal((await call(app, "PUT", "/v1/queues/q", {})).body.type, "anonymous_refused");
});

Deno.test("auth on: /metrics needs an admin token, unless --metrics-public", async () => {
  const auth = await loadAuthenticator(JSON.stringify({
    tokens: [{ name: "ops", token: "ops-token-123", admin: ["*"] }],
  }));
  const closed = localApp({}, { auth }).app;
  assert.equal((await call(closed, "GET", "/metrics")).status, 401);
  const ok = await call(closed, "GET", "/metrics", undefined, {
    authorization: "Bearer ops-token-123",
  });
  assert.equal(ok.status, 200);
  const pub = localApp({}, { auth, metricsPublic: true }).app;
  assert.equal((await call(pub, "GET", "/metrics")).status, 200);
  // Public metrics open nothing else.
  assert.equal((await call(pub, "GET", "/v1/cluster")).status, 401);
});

Deno.test("open access (the quickstart default of createApp): writes and admin need no token", async () => {
  const { app } = localApp();
  assert.equal((await call(app, "PUT", "/v1/queues/q", {})).status, 201);
  assert.equal((await call(app, "POST", "/v1/queues/q/messages", { body: 1 })).status, 201);
  assert.equal((await call(app, "GET", "/v1/cluster")).status, 200);
  assert.equal((await call(app, "GET", "/metrics")).status, 200);
});
