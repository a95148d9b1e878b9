import assert from "node:assert/strict";
import { decodeEnvelope } from "../broker/mod.ts";
import { memoryLogger } from "../log.ts";
import { createApp } from "./app.ts";
import { loadAuthenticator } from "./auth.ts";
import { type ForwardedRequest, HOP_HEADER, requestLeaderFetch } from "./forward.ts";
import { PROBLEMS } from "./problems.ts";
import { call, localApp } from "./testing/call.ts";
import { LocalNode } from "./testing/local_node.ts";

function isProblem(a: { status: number; headers: Headers; body: Record<string, unknown> }) {
  assert.equal(a.headers.get("content-type"), "application/problem+json");
  const type = a.body.type as keyof typeof PROBLEMS;
  assert.ok(type in PROBLEMS, `unregistered problem type ${String(type)}`);
  assert.equal(a.status, PROBLEMS[type].status);
  assert.equal(a.body.status, a.status);
  assert.equal(a.body.title, PROBLEMS[type].title);
  assert.equal(typeof a.body.detail, "string");
}

Deno.test("createApp() answers not_found for an unknown route and 405 with Allow", async () => {
  const { app } = localApp();
  const missing = await call(app, "GET", "/v2/anything");
  isProblem(missing);
  assert.equal(missing.body.type, "not_found");
  const wrong = await call(app, "PATCH", "/v1/queues/orders");
  isProblem(wrong);
  assert.equal(wrong.body.type, "method_not_allowed");
  assert.equal(wrong.headers.get("allow"), "DELETE, GET, HEAD, PUT");
  const wrong2 = await call(app, "GET", "/v1/queues/orders/ack");
  assert.equal(wrong2.status, 405);
  assert.equal(wrong2.headers.get("allow"), "POST");
});

Deno.test("createApp() answers invalid_request for malformed JSON, wrong types, unknown fields", async () => {
  const { app } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  const cases: [unknown, RegExp][] = [
    ["{not json", /not valid JSON/],
    [[1, 2], /body/],
    [{ body: 1, delayMs: "soon" }, /delayMs/],
    [{ body: 1, extra: true }, /extra/],
    [{ id: "x" }, /body/],
    [{ body: 1, delayMs: -5 }, /delayMs/],
    [{ messages: [] }, /messages/],
  ];
  for (const [body, reason] of cases) {
    const a = await call(app, "POST", "/v1/queues/q/messages", body);
    isProblem(a);
    assert.equal(a.body.type, "invalid_request", JSON.stringify(body));
    assert.match(JSON.stringify(a.body), reason);
    assert.ok(Array.isArray(a.body.errors) || /JSON/.test(a.body.detail));
  }
  const receive = await call(app, "POST", "/v1/queues/q/receive", { max: 1001 });
  assert.equal(receive.body.errors[0].path, "body.max");
  const badUtf8 = await call(app, "POST", "/v1/queues/q/messages", new Uint8Array([0xff, 0xfe]));
  assert.match(badUtf8.body.detail, /UTF-8/);
});

Deno.test("createApp() refuses bad queue and topic names with invalid_request", async () => {
  const { app } = localApp();
  for (const name of ["a b", "x".repeat(129), "%E2%9C%93", "semi;colon"]) {
    const a = await call(app, "PUT", `/v1/queues/${name}`);
    isProblem(a);
    assert.equal(a.body.type, "invalid_request", name);
    assert.equal(a.body.errors[0].path, "params.q");
  }
  const t = await call(app, "PUT", "/v1/topics/a%20b");
  assert.equal(t.body.errors[0].path, "params.t");
  const q = await call(app, "GET", "/v1/queues?consistency=eventually");
  assert.equal(q.body.errors[0].path, "query.consistency");
  const unknownQuery = await call(app, "GET", "/v1/queues?limit=3");
  assert.equal(unknownQuery.body.type, "invalid_request");
  const writeQuery = await call(app, "POST", "/v1/queues/q/messages?x=1", { body: 1 });
  assert.equal(writeQuery.body.errors[0].path, "query");
  assert.match(writeQuery.body.detail, /"x"/);
});

Deno.test("createApp() answers unsupported_media_type for a non-JSON content type", async () => {
  const { app } = localApp();
  const a = await call(app, "PUT", "/v1/queues/q", "leaseMs=1", {
    "content-type": "application/x-www-form-urlencoded",
  });
  isProblem(a);
  assert.equal(a.body.type, "unsupported_media_type");
});

Deno.test("createApp() answers payload_too_large past maxBodyBytes, declared or streamed", async () => {
  const { app, node } = localApp({}, { limits: { maxBodyBytes: 2048 } });
  await call(app, "PUT", "/v1/queues/q");
  const big = { body: "x".repeat(3000) };
  const declared = await call(app, "POST", "/v1/queues/q/messages", big);
  isProblem(declared);
  assert.equal(declared.body.type, "payload_too_large");
  assert.equal(declared.body.maxBytes, 2048);
  // No Content-Length: the limit applies while reading; the stream is not drained.
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      if (pulled > 1000) throw new Error("the server read far past the limit");
      controller.enqueue(new Uint8Array(1024).fill(32));
    },
  });
  const res = await app.request("/v1/queues/q/messages", {
    method: "POST",
    body: stream,
    headers: { "content-type": "application/json" },
  });
  assert.equal(res.status, 413);
  await res.body?.cancel();
  assert.ok(pulled < 10, `read ${pulled} chunks`);
  assert.equal(node.state.queue("q")?.stats.published, 0);
});

Deno.test("idempotent replay returns the stored answer with Idempotent-Replayed: true", async () => {
  const { app, node } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  const key = { "idempotency-key": "k-1" };
  const first = await call(app, "POST", "/v1/queues/q/messages", { body: { a: 1, b: 2 } }, key);
  assert.equal(first.status, 201);
  assert.equal(first.headers.get("idempotent-replayed"), null);
  // Same request, other key order and spacing: same canonical fingerprint.
  const again = await call(app, "POST", "/v1/queues/q/messages", '{ "body": {"b":2,"a":1} }', key);
  assert.equal(again.status, 201);
  assert.equal(again.headers.get("idempotent-replayed"), "true");
  assert.deepEqual(again.body, first.body);
  assert.equal(node.state.queue("q")?.stats.published, 1);
  const envelope = decodeEnvelope(node.proposals.at(-1)!);
  assert.equal(envelope.idem?.key, "k-1");
  assert.equal(envelope.idem?.fingerprint.length, 44);
});

Deno.test("idempotency_conflict for the same key with another body; bad keys refused", async () => {
  const { app } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  const key = { "idempotency-key": "k-2" };
  await call(app, "POST", "/v1/queues/q/messages", { body: 1 }, key);
  const conflict = await call(app, "POST", "/v1/queues/q/messages", { body: 2 }, key);
  isProblem(conflict);
  assert.equal(conflict.body.type, "idempotency_conflict");
  assert.equal(conflict.status, 409);
  const bad = await call(app, "POST", "/v1/queues/q/messages", { body: 1 }, {
    "idempotency-key": "has space",
  });
  assert.equal(bad.body.type, "invalid_request");
  assert.equal(bad.body.errors[0].path, "header");
});

Deno.test("no_leader answers 503 with Retry-After and proposes nothing applied", async () => {
  const { app, node } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  node.setMode({ kind: "no_leader" });
  const a = await call(app, "POST", "/v1/queues/q/messages", { body: 1 });
  isProblem(a);
  assert.equal(a.body.type, "no_leader");
  assert.equal(a.status, 503);
  assert.equal(a.headers.get("retry-after"), "1");
  const read = await call(app, "GET", "/v1/queues/q");
  assert.equal(read.body.type, "no_leader");
  const stale = await call(app, "GET", "/v1/queues/q?consistency=stale");
  assert.equal(stale.status, 200);
  assert.equal(stale.body.published, 0);
});

Deno.test("unknown_outcome is its own type (504), whether or not the command applied", async () => {
  for (const apply of [true, false]) {
    const { app, node } = localApp();
    await call(app, "PUT", "/v1/queues/q");
    node.setMode({ kind: "unknown_outcome", apply });
    const a = await call(app, "POST", "/v1/queues/q/messages", { body: 1, id: "u1" });
    isProblem(a);
    assert.equal(a.body.type, "unknown_outcome");
    assert.equal(a.status, 504);
    assert.match(a.body.detail, /same message id or Idempotency-Key/);
    assert.equal(node.state.queue("q")?.stats.published, apply ? 1 : 0);
  }
});

Deno.test("a forwarded request that meets a follower again answers not_leader (no loop)", async () => {
  const { app, node } = localApp();
  node.setMode({ kind: "follower", leaderId: "n2", leaderUrl: "http://127.0.0.1:9" });
  const a = await call(app, "PUT", "/v1/queues/q", {}, { [HOP_HEADER]: "n3" });
  isProblem(a);
  assert.equal(a.body.type, "not_leader");
  assert.equal(a.body.leaderId, "n2");
  assert.match(a.body.detail, /already forwarded by n3/);
  node.setMode({ kind: "follower", leaderId: "n2" }); // URL unknown
  const b = await call(app, "PUT", "/v1/queues/q", {});
  assert.equal(b.body.type, "not_leader");
});

Deno.test("a follower forwards writes to the leader and returns its answer as it is", async () => {
  const leader = new LocalNode({ nodeId: "n1", url: "http://leader.test" });
  const leaderApp = createApp({ node: leader, log: memoryLogger("error") });
  const seen: ForwardedRequest[] = [];
  const follower = new LocalNode({
    nodeId: "n2",
    mode: { kind: "follower", leaderId: "n1", leaderUrl: "http://leader.test" },
  });
  const followerApp = createApp({
    node: follower,
    log: memoryLogger("error"),
    leaderFetch: (request) => {
      seen.push(request);
      return requestLeaderFetch((r) => leaderApp.fetch(r))(request);
    },
  });
  await call(followerApp, "PUT", "/v1/queues/q");
  const a = await call(followerApp, "POST", "/v1/queues/q/messages", { body: 7 }, {
    "idempotency-key": "fwd-1",
  });
  assert.equal(a.status, 201);
  assert.equal(a.body.duplicate, false);
  assert.equal(leader.state.queue("q")?.stats.published, 1);
  assert.equal(follower.state.queue("q"), undefined);
  const last = seen.at(-1)!;
  assert.equal(new URL(last.path, last.leaderUrl).href, "http://leader.test/v1/queues/q/messages");
  const headers = new Headers(last.headers);
  assert.equal(headers.get(HOP_HEADER), "n2");
  assert.equal(headers.get("idempotency-key"), "fwd-1");
  assert.deepEqual(JSON.parse(new TextDecoder().decode(last.body)), { body: 7 });
  const replay = await call(followerApp, "POST", "/v1/queues/q/messages", { body: 7 }, {
    "idempotency-key": "fwd-1",
  });
  assert.equal(replay.status, 201);
  assert.equal(replay.headers.get("idempotent-replayed"), "true");
  const err = await call(followerApp, "GET", "/v1/queues/q"); // reads are served locally
  assert.equal(err.body.type, "queue_not_found");
});

Deno.test("a thrown bug is a 500 internal_error problem with the stack logged", async () => {
  const node = new LocalNode();
  node.propose = () => Promise.reject(new TypeError("boom in the driver"));
  const log = memoryLogger("info");
  const app = createApp({ node, log });
  const a = await call(app, "PUT", "/v1/queues/q");
  isProblem(a);
  assert.equal(a.body.type, "internal_error");
  assert.ok(!JSON.stringify(a.body).includes("boom"));
  const line = log.lines.find((l) => l.event === "request_failed");
  assert.ok(line);
  assert.match(JSON.stringify(line), /boom in the driver/);
  assert.match((line.error as { stack: string }).stack, /TypeError/);
});

Deno.test("a read barrier that times out is 503 unavailable; stale reads still answer", async () => {
  const { app, node } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  await call(app, "POST", "/v1/queues/q/messages", { body: 1, id: "s1" });
  node.setMode({ kind: "unknown_outcome", apply: false }); // its readBarrier answers timeout
  for (const path of ["/v1/queues/q", "/v1/queues/q/messages/s1", "/v1/cluster", "/v1/queues"]) {
    const a = await call(app, "GET", path);
    isProblem(a);
    assert.equal(a.body.type, "unavailable", path);
    assert.ok(a.headers.get("retry-after"));
    assert.equal((await call(app, "GET", `${path}?consistency=stale`)).status, 200, path);
  }
});

Deno.test("CORS: --cors-origin origins get the headers and a preflight without a token", async () => {
  const auth = await loadAuthenticator(
    JSON.stringify({ tokens: [{ name: "a", token: "admin-token", admin: ["*"] }] }),
  );
  const { app } = localApp({}, { auth, corsOrigins: ["https://app.example"] });
  const preflight = await app.request("/v1/queues/q/messages", {
    method: "OPTIONS",
    headers: {
      origin: "https://app.example",
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type",
    },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "https://app.example");
  const allowed = preflight.headers.get("access-control-allow-headers") ?? "";
  for (const h of ["authorization", "content-type", "idempotency-key", "quorumq-session"]) {
    assert.match(allowed, new RegExp(h), `${h} may be sent from the allowed origin`);
  }
  const other = await call(app, "GET", "/v1/queues", undefined, {
    origin: "https://evil.example",
    authorization: "Bearer admin-token",
  });
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  const plain = localApp();
  const none = await call(plain.app, "GET", "/v1/queues", undefined, {
    origin: "https://app.example",
  });
  assert.equal(none.headers.get("access-control-allow-origin"), null);
});
