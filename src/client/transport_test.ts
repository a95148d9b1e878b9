import assert from "node:assert/strict";
import { parseRetryAfterMs, Transport, type TransportOptions } from "./transport.ts";
import {
  ERROR_CLASSES,
  errorFromProblem,
  NetworkError,
  NoLeader,
  QueueFull,
  QuorumqError,
  UnknownOutcome,
} from "./errors.ts";

interface Call {
  url: string;
  method: string;
  headers: Headers;
  body: string | null;
}

type Script = (call: Call, index: number) => Response | "network";

/** A fake fetch that records calls and answers from a script. */
function scripted(script: Script) {
  const calls: Call[] = [];
  const fetch: typeof globalThis.fetch = (input, init) => {
    const call = {
      url: String(input),
      method: init?.method ?? "GET",
      headers: new Headers(init?.headers),
      body: (init?.body as string | undefined) ?? null,
    };
    calls.push(call);
    const answer = script(call, calls.length - 1);
    if (answer === "network") return Promise.reject(new TypeError("connection refused"));
    return Promise.resolve(answer);
  };
  return { calls, fetch };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: {
      "content-type": status >= 400 ? "application/problem+json" : "application/json",
      ...headers,
    },
  });

const problemOf = (status: number, type: string, headers: Record<string, string> = {}) =>
  json(status, { type, title: type, status, detail: `${type} detail` }, headers);

const NODES = ["http://n1:1", "http://n2:2", "http://n3:3"];

function transport(fetch: typeof globalThis.fetch, extra: Partial<TransportOptions> = {}) {
  const delays: number[] = [];
  // A scripted server that knows no sessions: writes carry Idempotency-Keys (sessions: false).
  const t = new Transport({
    nodes: NODES,
    fetch,
    sessions: false,
    random: () => 0.5,
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
    ...extra,
  });
  return { t, delays };
}

Deno.test("Transport.request() moves to the next node on network errors and keeps the Idempotency-Key and body", async () => {
  const { calls, fetch } = scripted((_, i) => i < 2 ? "network" : json(201, { seq: 1 }));
  const { t } = transport(fetch);
  const body = { id: "m-1", body: "hello" };
  const answer = await t.request({
    method: "POST",
    path: "/v1/queues/q/messages",
    body,
    mutating: true,
  });
  assert.equal(answer.status, 201);
  assert.deepEqual(calls.map((c) => new URL(c.url).host), ["n1:1", "n2:2", "n3:3"]);
  const keys = new Set(calls.map((c) => c.headers.get("idempotency-key")));
  assert.equal(keys.size, 1);
  assert.ok([...keys][0]);
  assert.deepEqual(new Set(calls.map((c) => c.body)), new Set([JSON.stringify(body)]));
  // The node that answered is tried first next time.
  await t.request({ method: "GET", path: "/v1/queues", mutating: false });
  assert.equal(new URL(calls[3].url).host, "n3:3");
  assert.equal(calls[3].headers.get("idempotency-key"), null);
});

Deno.test("Transport.request() refuses a body that is not JSON at once, sending nothing, and every attempt sends the body as it was at the call", async () => {
  const { calls, fetch } = scripted((_, i) => i === 0 ? "network" : json(201, { seq: 1 }));
  const { t, delays } = transport(fetch);
  await assert.rejects(
    t.request({ method: "POST", path: "/v1/queues/q/messages", body: { n: 1n }, mutating: true }),
    TypeError,
  );
  assert.equal(calls.length, 0);
  assert.deepEqual(delays, []);
  // A body changed while the call is on its way: a retry still sends the first text.
  const body = { id: "m-1", body: "first" };
  const answer = t.request({ method: "POST", path: "/v1/queues/q/messages", body, mutating: true });
  body.body = "changed";
  assert.equal((await answer).status, 201);
  assert.deepEqual(calls.map((c) => c.body), [
    '{"id":"m-1","body":"first"}',
    '{"id":"m-1","body":"first"}',
  ]);
});

Deno.test("Transport.request() uses a fresh key per logical call", async () => {
  const { calls, fetch } = scripted(() => json(200, {}));
  const { t } = transport(fetch);
  await t.request({ method: "POST", path: "/a", body: {}, mutating: true });
  await t.request({ method: "POST", path: "/a", body: {}, mutating: true });
  assert.notEqual(calls[0].headers.get("idempotency-key"), calls[1].headers.get("idempotency-key"));
});

Deno.test("Transport.request() honours Retry-After on 503 no_leader", async () => {
  const { calls, fetch } = scripted((_, i) =>
    i === 0 ? problemOf(503, "no_leader", { "retry-after": "2" }) : json(200, { ok: true })
  );
  const { t, delays } = transport(fetch);
  const answer = await t.request({ method: "POST", path: "/x", body: {}, mutating: true });
  assert.deepEqual(answer.body, { ok: true });
  assert.equal(calls.length, 2);
  assert.equal(delays.length, 1);
  assert.ok(delays[0] >= 2000, `slept ${delays[0]} ms, Retry-After asked 2000`);
});

Deno.test("Transport.request() bounds attempts and backoff, then reports a write as UnknownOutcome", async () => {
  const { calls, fetch } = scripted(() => problemOf(500, "internal"));
  const { t, delays } = transport(fetch, {
    retry: { attempts: 6, baseDelayMs: 100, maxDelayMs: 400 },
  });
  const error = await t.request({ method: "POST", path: "/x", body: {}, mutating: true }).catch((
    e,
  ) => e);
  assert.ok(error instanceof UnknownOutcome, String(error));
  assert.equal(error.type, "unknown_outcome");
  assert.ok(error.cause instanceof QuorumqError);
  assert.match(error.detail, /Idempotency-Key/);
  assert.equal(calls.length, 6);
  assert.equal(delays.length, 5);
  // Equal jitter with random() = 0.5: three quarters of each doubling step, capped at 400.
  assert.deepEqual(delays, [75, 150, 300, 300, 300]);
  assert.equal(new Set(calls.map((c) => c.headers.get("idempotency-key"))).size, 1);
});

Deno.test("Transport.request() retries 503 unavailable on another node", async () => {
  const { calls, fetch } = scripted((_, i) =>
    i === 0 ? problemOf(503, "unavailable") : json(200, {})
  );
  const { t } = transport(fetch);
  await t.request({ method: "GET", path: "/v1/queues", mutating: false });
  assert.deepEqual(calls.map((c) => new URL(c.url).host), ["n1:1", "n2:2"]);
});

Deno.test("Transport.request() rethrows the last error of a read after retries", async () => {
  const { fetch } = scripted(() => problemOf(503, "no_leader", { "retry-after": "0" }));
  const { t } = transport(fetch, { retry: { attempts: 3 } });
  const error = await t.request({ method: "GET", path: "/v1/cluster", mutating: false }).catch((
    e,
  ) => e);
  assert.ok(error instanceof NoLeader);
  assert.equal(error.status, 503);
});

Deno.test("Transport.request() gives a read that never got an answer a NetworkError", async () => {
  const { fetch } = scripted(() => "network");
  const { t } = transport(fetch, { retry: { attempts: 4 } });
  const error = await t.request({ method: "GET", path: "/v1/queues", mutating: false }).catch((e) =>
    e
  );
  assert.ok(error instanceof NetworkError);
  assert.equal(error.status, 0);
  assert.match(error.message, /connection refused/);
});

Deno.test("Transport.request() stops at totalMs even when attempts remain", async () => {
  let clockMs = 0;
  const { calls, fetch } = scripted(() => {
    clockMs += 1_000;
    return "network";
  });
  const { t } = transport(fetch, { now: () => clockMs, retry: { attempts: 100, totalMs: 5_000 } });
  const error = await t.request({ method: "POST", path: "/x", body: {}, mutating: true }).catch((
    e,
  ) => e);
  assert.ok(error instanceof UnknownOutcome);
  assert.ok(calls.length <= 6, `${calls.length} attempts in a 5 s budget of 1 s attempts`);
});

Deno.test("Transport.request() gives up at once when Retry-After exceeds the budget", async () => {
  const { calls, fetch } = scripted(() => problemOf(503, "no_leader", { "retry-after": "60" }));
  const { t, delays } = transport(fetch, { retry: { totalMs: 5_000 } });
  const error = await t.request({ method: "POST", path: "/x", body: {}, mutating: true }).catch((
    e,
  ) => e);
  // Nothing was applied (every answer was no_leader): the error is NoLeader, not UnknownOutcome.
  assert.ok(error instanceof NoLeader);
  assert.equal(calls.length, 1);
  assert.deepEqual(delays, []);
});

Deno.test("Transport.request() does not retry a 4xx problem", async () => {
  const { calls, fetch } = scripted(() => problemOf(409, "queue_full"));
  const { t } = transport(fetch);
  const error = await t.request({ method: "POST", path: "/x", body: {}, mutating: true }).catch((
    e,
  ) => e);
  assert.ok(error instanceof QueueFull);
  assert.equal(calls.length, 1);
});

Deno.test("Transport.request() follows a not_leader leader hint", async () => {
  const { calls, fetch } = scripted((_, i) =>
    i === 0
      ? json(421, { type: "not_leader", status: 421, leaderUrl: "http://n3:3/" })
      : json(200, {})
  );
  const { t } = transport(fetch);
  await t.request({ method: "POST", path: "/x", body: {}, mutating: true });
  assert.equal(calls[1].url, "http://n3:3/x");
});

Deno.test("Transport.request() retries unknown_outcome with the same key and reports a replay", async () => {
  const { calls, fetch } = scripted((_, i) =>
    i === 0
      ? problemOf(503, "unknown_outcome")
      : json(201, { seq: 4 }, { "idempotent-replayed": "true" })
  );
  const { t } = transport(fetch);
  const answer = await t.request({ method: "POST", path: "/x", body: { a: 1 }, mutating: true });
  assert.equal(answer.replayed, true);
  assert.equal(calls[0].headers.get("idempotency-key"), calls[1].headers.get("idempotency-key"));
  assert.equal(answer.idempotencyKey, calls[0].headers.get("idempotency-key"));
});

Deno.test("Transport.request() retries a 502 whose body is not a problem", async () => {
  const { calls, fetch } = scripted((_, i) =>
    i === 0 ? new Response("<html>bad gateway</html>", { status: 502 }) : json(200, { ok: 1 })
  );
  const { t } = transport(fetch);
  await t.request({ method: "GET", path: "/x", mutating: false });
  assert.equal(calls.length, 2);
});

Deno.test("Transport.request() sends the token and stops when the caller aborts", async () => {
  const controller = new AbortController();
  const { calls, fetch } = scripted(() => {
    controller.abort(new Error("caller stopped"));
    return "network";
  });
  const t = new Transport({ nodes: NODES, fetch, token: "s3cret", sessions: false });
  const error = await t.request({
    method: "POST",
    path: "/x",
    body: {},
    mutating: true,
    signal: controller.signal,
  }).catch((e) => e);
  assert.equal(error.message, "caller stopped");
  assert.equal(calls.length, 1);
  assert.equal(calls[0].headers.get("authorization"), "Bearer s3cret");
});

Deno.test("Transport.request() times out a hung attempt and tries another node", async () => {
  let n = 0;
  const fetch: typeof globalThis.fetch = (_input, init) => {
    if (n++ > 0) return Promise.resolve(json(200, { ok: true }));
    return new Promise((_, reject) =>
      init!.signal!.addEventListener("abort", () => reject(init!.signal!.reason))
    );
  };
  const t = new Transport({
    nodes: NODES,
    fetch,
    timeoutMs: 20,
    sessions: false,
    sleep: () => Promise.resolve(),
  });
  const answer = await t.request({ method: "GET", path: "/x", mutating: false });
  assert.deepEqual(answer.body, { ok: true });
  assert.equal(n, 2);
});

Deno.test("errorFromProblem() maps every registered type to its class", () => {
  for (const [type, Class] of Object.entries(ERROR_CLASSES)) {
    const error = errorFromProblem({ type, title: "t", detail: "d", errors: [{ x: 1 }] }, 400);
    assert.ok(error instanceof Class, type);
    assert.ok(error instanceof QuorumqError);
    assert.equal(error.type, type);
    assert.equal(error.status, 400);
    assert.deepEqual(error.errors, [{ x: 1 }]);
    assert.equal(error.name, Class.name);
  }
  const other = errorFromProblem({ type: "brand_new" }, 418);
  assert.equal(other.constructor, QuorumqError);
  assert.equal(errorFromProblem({ type: "toString" }, 400).constructor, QuorumqError);
});

Deno.test("parseRetryAfterMs() reads seconds and HTTP dates", () => {
  assert.equal(parseRetryAfterMs("3", 0), 3000);
  assert.equal(parseRetryAfterMs(null, 0), null);
  assert.equal(parseRetryAfterMs("soon", 0), null);
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(parseRetryAfterMs("Thu, 01 Jan 2026 00:00:05 GMT", now), 5000);
});
