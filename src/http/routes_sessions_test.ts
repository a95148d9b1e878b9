import assert from "node:assert/strict";
import { loadAuthenticator } from "./auth.ts";
import { call, localApp } from "./testing/call.ts";

const AUTH_FILE = JSON.stringify({
  tokens: [
    { name: "alice", token: "alice-token-1", publish: ["orders"] },
    { name: "bob", token: "bob-token-123", publish: ["orders"] },
    { name: "ops", token: "ops-token-123", admin: ["*"] },
  ],
});
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function securedApp() {
  const auth = await loadAuthenticator(AUTH_FILE);
  const t = localApp({}, { auth });
  await call(t.app, "PUT", "/v1/queues/orders", {}, bearer("ops-token-123"));
  return t;
}

Deno.test("auth on: an Idempotency-Key is the caller's own; another token's same key is new", async () => {
  const { app } = await securedApp();
  const key = { "idempotency-key": "order-7" };
  const alice = await call(app, "POST", "/v1/queues/orders/messages", { body: "a" }, {
    ...bearer("alice-token-1"),
    ...key,
  });
  const bob = await call(app, "POST", "/v1/queues/orders/messages", { body: "a" }, {
    ...bearer("bob-token-123"),
    ...key,
  });
  assert.equal(alice.status, 201);
  assert.equal(bob.status, 201);
  assert.equal(bob.headers.get("idempotent-replayed"), null, "bob never gets alice's answer");
  assert.notEqual(bob.body.seq, alice.body.seq);
  const again = await call(app, "POST", "/v1/queues/orders/messages", { body: "a" }, {
    ...bearer("alice-token-1"),
    ...key,
  });
  assert.equal(again.headers.get("idempotent-replayed"), "true");
  assert.equal(again.body.seq, alice.body.seq);
});

Deno.test("auth on: a session is its opener's; another token's write on it is session_expired", async () => {
  const { app } = await securedApp();
  assert.equal((await call(app, "POST", "/v1/sessions", {})).status, 401);
  const opened = await call(app, "POST", "/v1/sessions", {}, bearer("alice-token-1"));
  assert.equal(opened.status, 201);
  const place = { "quorumq-session": `${opened.body.session}/1/1` };
  const bob = await call(app, "POST", "/v1/queues/orders/messages", { body: "b" }, {
    ...bearer("bob-token-123"),
    ...place,
  });
  assert.equal(bob.status, 409);
  assert.equal(bob.body.type, "session_expired");
  const alice = await call(app, "POST", "/v1/queues/orders/messages", { body: "a" }, {
    ...bearer("alice-token-1"),
    ...place,
  });
  assert.equal(alice.status, 201);
});

Deno.test("a write with both Quorumq-Session and Idempotency-Key, or a bad session header, is 400", async () => {
  const { app } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  const opened = await call(app, "POST", "/v1/sessions", {});
  const both = await call(app, "POST", "/v1/queues/q/messages", { body: 1 }, {
    "quorumq-session": `${opened.body.session}/1/1`,
    "idempotency-key": "k",
  });
  assert.equal(both.status, 400);
  for (const bad of ["1/0/0", "1/2/3", "x/1/1", "1/1"]) {
    const r = await call(app, "POST", "/v1/queues/q/messages", { body: 1 }, {
      "quorumq-session": bad,
    });
    assert.equal(r.status, 400, bad);
  }
  const info = await call(app, "GET", "/v1/queues/q");
  assert.equal(info.body.published, 0);
});

Deno.test("sessions over HTTP: open, keep alive, a repeated write replays, close", async () => {
  const { app } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  const opened = await call(app, "POST", "/v1/sessions", { timeoutMs: 60_000 });
  assert.equal(opened.status, 201);
  assert.equal(opened.body.timeoutMs, 60_000);
  const id = opened.body.session;
  const kept = await call(app, "POST", `/v1/sessions/${id}/keepalive`);
  assert.equal(kept.status, 200);
  assert.equal(typeof kept.body.expiresAt, "number");
  const place = { "quorumq-session": `${id}/1/1` };
  const first = await call(app, "POST", "/v1/queues/q/messages", { body: 1 }, place);
  const again = await call(app, "POST", "/v1/queues/q/messages", { body: 1 }, place);
  assert.equal(again.headers.get("idempotent-replayed"), "true");
  assert.deepEqual(again.body, first.body);
  assert.equal((await call(app, "DELETE", `/v1/sessions/${id}`)).status, 204);
  const closed = await call(app, "POST", "/v1/queues/q/messages", { body: 1 }, place);
  assert.equal(closed.body.type, "session_expired");
  assert.equal((await call(app, "GET", "/v1/queues/q")).body.published, 1);
});

Deno.test("DELETE /v1/idempotency-keys/{key} frees the caller's key, not another token's", async () => {
  const { app } = await securedApp();
  const key = { "idempotency-key": "qos2-7" };
  const publish = (token: string) =>
    call(app, "POST", "/v1/queues/orders/messages", { body: "same" }, { ...bearer(token), ...key });
  const first = await publish("alice-token-1");
  assert.equal(first.status, 201);
  // bob's delete names his own key space: alice's answer is still replayed.
  const bobDelete = await call(
    app,
    "DELETE",
    "/v1/idempotency-keys/qos2-7",
    undefined,
    bearer("bob-token-123"),
  );
  assert.equal(bobDelete.status, 204);
  assert.equal((await publish("alice-token-1")).headers.get("idempotent-replayed"), "true");
  const freed = await call(
    app,
    "DELETE",
    "/v1/idempotency-keys/qos2-7",
    undefined,
    bearer("alice-token-1"),
  );
  assert.equal(freed.status, 204);
  const again = await publish("alice-token-1");
  assert.equal(again.status, 201);
  assert.equal(again.headers.get("idempotent-replayed"), null);
  assert.notEqual(again.body.seq, first.body.seq);
  const bad = await call(
    app,
    "DELETE",
    "/v1/idempotency-keys/%20x",
    undefined,
    bearer("alice-token-1"),
  );
  assert.equal(bad.status, 400);
});
