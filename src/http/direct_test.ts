/**
 * The stream's direct requests (`direct.ts`) against the same requests over HTTP (through Hono):
 * every case, good and bad, must get the same status, headers that matter and body (problem
 * type, detail, errors) both ways, so the two carriers of one handler cannot drift apart. Over
 * HTTP only: refused tokens and a draining node; and the same requests sent to a follower, which
 * forwards them to its leader whichever way they came.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { createApp, type CreateAppOptions } from "./app.ts";
import { loadAuthenticator } from "./auth.ts";
import { DirectCall, matchDirect, PLAIN_VALUE, plainValue } from "./direct.ts";
import { LocalNode } from "./testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { Drain } from "./drain.ts";
import { StreamConnection } from "../client/mod.ts";

const ADMIN = "admin-token-1";
const PUBLISHER = "publisher-token-1";

interface Case {
  readonly name: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly token?: string;
}

/**
 * More rules of the hot routes: content types, bodies that are JSON but not objects, sessions
 * (in the one `servedNode` opens), keyed receives, a hop header on the leader.
 */
const SESSION = 5;
const MORE_CASES: readonly Case[] = [
  {
    name: "charset",
    path: "/v1/queues/q/messages",
    headers: { "content-type": "application/json; charset=utf-8" },
    body: '{"body":"cs"}',
  },
  {
    name: "vendor json",
    path: "/v1/queues/q/messages",
    headers: { "content-type": "application/vnd.acme+json" },
    body: '{"body":"v"}',
  },
  {
    name: "upper-case type",
    path: "/v1/queues/q/messages",
    headers: { "content-type": "Application/JSON" },
    body: '{"body":"u"}',
  },
  { name: "array body", path: "/v1/queues/q/messages", body: "[]" },
  { name: "null body", path: "/v1/queues/q/messages", body: "null" },
  { name: "number body", path: "/v1/queues/q/messages", body: "5" },
  { name: "empty batch", path: "/v1/queues/q/messages", body: '{"messages":[]}' },
  { name: "ack extra field", path: "/v1/queues/q/ack", body: '{"receipts":[],"x":1}' },
  { name: "ack no body", path: "/v1/queues/q/ack" },
  {
    name: "padded key",
    path: "/v1/queues/q/messages",
    headers: { "idempotency-key": " k3 " },
    body: '{"body":"padded"}',
  },
  {
    name: "session write",
    path: "/v1/queues/q/messages",
    headers: { "quorumq-session": `${SESSION}/1/1` },
    body: '{"body":"s1"}',
  },
  {
    name: "session replay",
    path: "/v1/queues/q/messages",
    headers: { "quorumq-session": `${SESSION}/1/1` },
    body: '{"body":"s1"}',
  },
  {
    name: "session next",
    path: "/v1/queues/q/ack",
    headers: { "quorumq-session": `${SESSION}/2/2` },
    body: '{"receipts":["r-2"]}',
  },
  {
    name: "unknown session",
    path: "/v1/queues/q/messages",
    headers: { "quorumq-session": "99/1/1" },
    body: '{"body":1}',
  },
  {
    name: "receive keyed",
    path: "/v1/queues/q/receive",
    headers: { "idempotency-key": "rk1" },
    body: '{"max":2}',
  },
  {
    name: "receive keyed replay",
    path: "/v1/queues/q/receive",
    headers: { "idempotency-key": "rk1" },
    body: '{"max":2}',
  },
  { name: "receive wait", path: "/v1/queues/empty/receive", body: '{"max":1,"waitMs":1}' },
  {
    name: "hop header on the leader",
    path: "/v1/queues/q/messages",
    headers: { "x-quorumq-forwarded-by": "n9" },
    body: '{"body":"hop"}',
  },
];

/** Requests that exercise each rule of the hot routes; each is run over HTTP, then the stream. */
const CASES: readonly Case[] = [
  { name: "publish", path: "/v1/queues/q/messages", body: '{"id":"a","body":{"x":1}}' },
  { name: "duplicate", path: "/v1/queues/q/messages", body: '{"id":"a","body":{"x":1}}' },
  { name: "no body field", path: "/v1/queues/q/messages", body: '{"id":"b"}' },
  // Compact single publishes (read without a parse: compact_publish.ts).
  { name: "compact", path: "/v1/queues/q/messages", body: '{"id":"c1","body":"compact"}' },
  { name: "compact duplicate", path: "/v1/queues/q/messages", body: '{"body":"x","id":"c1"}' },
  { name: "compact no id", path: "/v1/queues/q/messages", body: '{"body":"plain"}' },
  { name: "compact empty id", path: "/v1/queues/q/messages", body: '{"id":"","body":"x"}' },
  {
    name: "compact, not JSON content",
    path: "/v1/queues/q/messages",
    headers: { "content-type": "text/plain" },
    body: '{"body":"x"}',
  },
  {
    name: "compact, bad session",
    path: "/v1/queues/q/messages",
    headers: { "quorumq-session": "x" },
    body: '{"id":"c3","body":"x"}',
  },
  { name: "unknown field", path: "/v1/queues/q/messages", body: '{"body":1,"bogus":2}' },
  { name: "not JSON", path: "/v1/queues/q/messages", body: '{"body":' },
  { name: "empty body", path: "/v1/queues/q/messages", body: "" },
  { name: "too large", path: "/v1/queues/q/messages", body: `{"body":"${"x".repeat(5000)}"}` },
  {
    name: "not JSON content",
    path: "/v1/queues/q/messages",
    headers: { "content-type": "text/plain" },
    body: '{"body":1}',
  },
  { name: "no queue", path: "/v1/queues/nope/messages", body: '{"body":1}' },
  {
    name: "bad batch",
    path: "/v1/queues/q/messages",
    body: '{"messages":[{"body":1},{"body":2,"delayMs":-1}]}',
  },
  { name: "batch", path: "/v1/queues/q/messages", body: '{"messages":[{"body":1},{"body":2}]}' },
  {
    name: "bad session",
    path: "/v1/queues/q/messages",
    headers: { "quorumq-session": "1/0/0" },
    body: '{"body":1}',
  },
  {
    name: "session and key",
    path: "/v1/queues/q/messages",
    headers: { "quorumq-session": "7/1/1", "idempotency-key": "k1" },
    body: '{"body":1}',
  },
  {
    name: "bad key",
    path: "/v1/queues/q/messages",
    headers: { "idempotency-key": "has space" },
    body: '{"body":1}',
  },
  {
    name: "keyed",
    path: "/v1/queues/q/messages",
    headers: { "idempotency-key": "k2" },
    body: '{"body":"keyed"}',
  },
  {
    name: "keyed replay",
    path: "/v1/queues/q/messages",
    headers: { "idempotency-key": "k2" },
    body: '{"body":"keyed"}',
  },
  {
    name: "keyed conflict",
    path: "/v1/queues/q/messages",
    headers: { "idempotency-key": "k2" },
    body: '{"body":"other"}',
  },
  { name: "forbidden", path: "/v1/queues/q/messages", body: '{"body":1}', token: "none" },
  { name: "ack none", path: "/v1/queues/q/ack", body: '{"receipts":[]}' },
  { name: "ack stale", path: "/v1/queues/q/ack", body: '{"receipts":["r-1"]}' },
  { name: "nack bad delay", path: "/v1/queues/q/nack", body: '{"receipts":["r"],"delayMs":"x"}' },
  { name: "extend no lease", path: "/v1/queues/q/extend", body: '{"receipts":["r"]}' },
  { name: "receive bad max", path: "/v1/queues/q/receive", body: '{"max":0}' },
  { name: "receive none", path: "/v1/queues/empty/receive", body: "{}" },
  { name: "topic publish", path: "/v1/topics/t/messages", body: '{"subject":"a.b","body":1}' },
  { name: "bad subject", path: "/v1/topics/t/messages", body: '{"subject":"a.*","body":1}' },
  { name: "no topic", path: "/v1/topics/nope/messages", body: '{"body":1}' },
  { name: "sub ack", path: "/v1/topics/t/subscriptions/s/ack", body: '{"receipts":["r"]}' },
  { name: "no sub", path: "/v1/topics/t/subscriptions/nope/nack", body: '{"receipts":["r"]}' },
  { name: "sub receive", path: "/v1/topics/t/subscriptions/s/receive", body: '{"max":1000}' },
  {
    name: "sub forbidden",
    path: "/v1/topics/t/subscriptions/s/receive",
    body: "{}",
    token: "none",
  },
  ...MORE_CASES,
];

/** The parts of an answer both carriers must agree on. */
async function comparable(res: Response) {
  const text = await res.text();
  const headers: Record<string, string> = {};
  for (const name of ["content-type", "idempotent-replayed", "retry-after"]) {
    const value = res.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  const body = text === "" ? undefined : JSON.parse(text);
  return { status: res.status, headers, body };
}

/**
 * A node served on loopback, with the queues and the subscription of the cases. With CORS on,
 * its HTTP requests go through Hono's routes and middlewares (`DirectRoutes.serve`).
 */
async function servedNode(cors = false, options: Partial<CreateAppOptions> = {}) {
  const auth = await loadAuthenticator(JSON.stringify({
    tokens: [
      { name: "admin", token: ADMIN, admin: ["*"], publish: ["*"], consume: ["*"] },
      { name: "publisher", token: PUBLISHER, publish: ["topic:t"], consume: [] },
    ],
  }));
  const limits = { maxBodyBytes: 4096 };
  // A still clock: both nodes stamp the same times, so their answers are equal to the byte.
  const node = new LocalNode({ monoNowMs: () => 1_000, wallNowMs: () => 1_700_000_000_000 });
  const corsOrigins = cors ? ["https://app.example"] : [];
  const app = createApp({ node, log: silentLogger, auth, limits, corsOrigins, ...options });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  const bearer = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };
  const made = [
    ["/v1/queues/q", "{}"],
    ["/v1/queues/empty", "{}"],
    ["/v1/topics/t", "{}"],
    ["/v1/topics/t/subscriptions/s", '{"startAt":"earliest"}'],
  ];
  for (const [path, body] of made) {
    const res = await fetch(url + path, { method: "PUT", headers: bearer, body });
    assert.equal(res.status, 201, await res.text());
  }
  const session = await fetch(`${url}/v1/sessions`, {
    method: "POST",
    headers: bearer,
    body: "{}",
  });
  const opened = await session.json();
  assert.equal(session.status, 201, JSON.stringify(opened));
  // The session the cases write in: the same on every node, whose setups are the same.
  assert.equal(opened.session, SESSION);
  return { url, server, node, auth };
}

Deno.test("direct requests (stream, HTTP) answer what the same requests answer through Hono", async () => {
  // Like nodes, the same requests in the same order: through Hono (over HTTP, CORS on), direct
  // over HTTP, and direct on streams.
  const http = await servedNode(true);
  const direct = await servedNode();
  const node = await servedNode();
  const streams = {
    admin: await StreamConnection.open(node.url, ADMIN),
    publisher: await StreamConnection.open(node.url, PUBLISHER),
  };
  try {
    for (const c of CASES) {
      assert.ok(matchDirect("POST", c.path) !== undefined, `${c.name}: not a direct route`);
      const token = c.token === "none" ? PUBLISHER : ADMIN;
      const headers = { "content-type": "application/json", ...c.headers };
      const post = async (url: string) =>
        await comparable(
          await fetch(url + c.path, {
            method: "POST",
            headers: { ...headers, authorization: `Bearer ${token}` },
            body: c.body,
          }),
        );
      const viaHttp = await post(http.url);
      assert.deepEqual(await post(direct.url), viaHttp, `${c.name} (HTTP)`);
      const stream = c.token === "none" ? streams.publisher : streams.admin;
      const viaStream = await comparable(await stream.request("POST", c.path, headers, c.body));
      assert.deepEqual(viaStream, viaHttp, c.name);
    }
    // And the same requests counted under the same routes and statuses.
    const hono = await counted(http.url);
    assert.ok(hono.length > 10, hono.join("\n"));
    assert.deepEqual(await counted(direct.url), hono);
    assert.deepEqual(await counted(node.url), hono);
  } finally {
    await Promise.all(Object.values(streams).map((s) => s.close()));
    await Promise.all([http, direct, node].map((n) => n.server.shutdown()));
  }
});

Deno.test("only plain paths of the hot routes are direct; anything else goes through the app", () => {
  const direct = [
    "/v1/queues/q/messages",
    "/v1/queues/a.b-c_d/ack",
    "/v1/queues/q/nack",
    "/v1/queues/q/extend",
    "/v1/queues/q/receive",
    "/v1/topics/t/messages",
    "/v1/topics/t/subscriptions/s/receive",
    "/v1/topics/t/subscriptions/s/ack",
  ];
  for (const p of direct) assert.ok(matchDirect("POST", p) !== undefined, p);
  const viaApp = [
    "/v1/queues/q/messages/",
    "/v1/queues/q/messages?x=1",
    "/v1/queues/%71/messages",
    "/v1/queues/./messages",
    "/v1/queues/../messages",
    "/v1/queues/q/purge",
    "/v1/queues/q",
    "/v1/topics/t/subscriptions/s",
    "/v1/topics/t/subscriptions/../ack",
    "/v1/topics/t/claims/k/take",
    "/v1/transactions",
    "/v2/queues/q/messages",
  ];
  for (const p of viaApp) assert.equal(matchDirect("POST", p), undefined, p);
  assert.equal(matchDirect("PUT", "/v1/queues/q/messages"), undefined);
  assert.equal(matchDirect("GET", "/v1/queues/q/messages"), undefined);
});

/** The POST requests a node counted, by route and status (its `/metrics`). */
async function counted(url: string) {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return (await res.text()).split("\n")
    .filter((l) => l.startsWith("quorumq_http_requests_total{") && l.includes('"POST"'))
    .sort();
}

/**
 * The answers of `requests` (path, headers) to the Hono node and to the direct one, in turn,
 * and how each node counted them.
 */
async function bothWays(
  hono: string,
  direct: string,
  requests: readonly { path: string; headers: Record<string, string>; body?: string }[],
) {
  for (const r of requests) {
    const post = async (url: string) => {
      const init = { method: "POST", headers: r.headers, body: r.body ?? '{"body":1}' };
      const res = await fetch(url + r.path, init);
      const answer = await comparable(res);
      const extra = ["www-authenticate", "connection"].map((h) => res.headers.get(h));
      return { ...answer, extra };
    };
    const viaHono = await post(hono);
    assert.deepEqual(await post(direct), viaHono, JSON.stringify(r));
  }
}

Deno.test("over HTTP, a direct route refuses a missing or bad token as the app does", async () => {
  const http = await servedNode(true);
  const direct = await servedNode();
  try {
    const json = { "content-type": "application/json" };
    await bothWays(http.url, direct.url, [
      { path: "/v1/queues/q/messages", headers: json },
      { path: "/v1/queues/q/messages", headers: { ...json, authorization: "Bearer nope" } },
      { path: "/v1/queues/q/ack", headers: { ...json, authorization: "Basic eDp5" } },
      { path: "/v1/queues/q/receive", headers: { ...json, authorization: "Bearer" } },
      { path: "/v1/topics/t/messages", headers: { ...json, authorization: `bearer ${ADMIN}` } },
    ]);
    const hono = await counted(http.url);
    assert.ok(hono.some((l) => l.includes('status="401"')), hono.join("\n"));
    assert.deepEqual(await counted(direct.url), hono);
  } finally {
    await Promise.all([http, direct].map((n) => n.server.shutdown()));
  }
});

Deno.test("a draining node answers direct routes as the app does (503, Connection: close)", async () => {
  const drains = [new Drain(), new Drain()];
  const http = await servedNode(true, { drain: drains[0] });
  const direct = await servedNode(false, { drain: drains[1] });
  try {
    for (const d of drains) d.begin();
    const headers = { "content-type": "application/json", authorization: `Bearer ${ADMIN}` };
    await bothWays(http.url, direct.url, [
      { path: "/v1/queues/q/messages", headers },
      { path: "/v1/queues/q/receive", headers, body: "{}" },
      { path: "/v1/queues/q/messages", headers: { "content-type": "application/json" } },
    ]);
  } finally {
    await Promise.all([http, direct].map((n) => n.server.shutdown()));
  }
});

Deno.test("a follower forwards direct requests (HTTP, stream) as it forwards through Hono", async () => {
  // Three leaders with the same setup, each behind a follower: through Hono (CORS on), direct
  // over HTTP, direct on a stream. The follower validates and authenticates, the leader applies.
  const leaders = [await servedNode(true), await servedNode(), await servedNode()];
  const followers = leaders.map((leader, i) => {
    const auth = leader.auth;
    const node = new LocalNode({
      nodeId: "n2",
      mode: { kind: "follower", leaderId: "n1", leaderUrl: leader.url },
    });
    const corsOrigins = i === 0 ? ["https://app.example"] : [];
    const app = createApp({
      node,
      log: silentLogger,
      auth,
      limits: { maxBodyBytes: 4096 },
      corsOrigins,
    });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
    return { url: `http://127.0.0.1:${server.addr.port}`, server };
  });
  const stream = await StreamConnection.open(followers[2].url, ADMIN);
  try {
    // Not the hop header: a follower answers it not_leader naming its own leader's URL, and a
    // stream never passes it on.
    const forwarded = CASES.filter((c) =>
      c.token !== "none" &&
      c.headers?.["x-quorumq-forwarded-by"] === undefined
    );
    for (const c of forwarded) {
      const headers = { "content-type": "application/json", ...c.headers };
      const post = async (url: string) =>
        await comparable(
          await fetch(url + c.path, {
            method: "POST",
            headers: { ...headers, authorization: `Bearer ${ADMIN}` },
            body: c.body,
          }),
        );
      const viaHono = await post(followers[0].url);
      assert.deepEqual(await post(followers[1].url), viaHono, `${c.name} (HTTP)`);
      const viaStream = await comparable(await stream.request("POST", c.path, headers, c.body));
      assert.deepEqual(viaStream, viaHono, c.name);
    }
  } finally {
    await stream.close();
    await Promise.all([...leaders, ...followers].map((n) => n.server.shutdown()));
  }
});

Deno.test("a body value within the limit is read as it is; its bytes, when asked for, are its text's", async () => {
  const json = { messages: [{ subject: "a.b", body: "aGk=", headers: { "mqtt-qos": "1" } }] };
  const text = JSON.stringify(json);
  const call = (bytesAtMost: number) =>
    new DirectCall(
      "POST",
      "/p",
      undefined,
      { "content-type": "application/json" },
      {
        json,
        bytesAtMost,
      },
      new AbortController().signal,
      () => new Request("http://x"),
    );
  const within = call(4096).body(4096);
  assert.equal(within.json, json);
  assert.deepEqual(within.bytes, new TextEncoder().encode(text));
  // Beyond the limit its text is read (a copy, as parsed), and the limit is the text's.
  const beyond = call(5000).body(4096);
  assert.notEqual(beyond.json, json);
  assert.deepEqual(beyond.json, json);
  assert.throws(() => call(5000).body(10), /10/);
  assert.deepEqual((await call(4096).rawBody(4096)).bytes, new TextEncoder().encode(text));
  // Another content type: read as its text is, refused as such a text is.
  const plain = new DirectCall(
    "POST",
    "/p",
    undefined,
    { "content-type": "text/plain" },
    {
      json,
      bytesAtMost: 100,
    },
    new AbortController().signal,
    () => new Request("http://x"),
  );
  assert.throws(() => plain.body(4096), /Content-Type/);
});

Deno.test("plainValue property: the header values PLAIN_VALUE takes, and no others", () => {
  const value = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.string({ unit: "binary", maxLength: 12 }),
    fc.stringMatching(/^[ -~]{0,12}$/),
    fc.array(fc.constantFrom(" ", "a", "\t", "\n", "\r", "~", "\x7f", "\x1f", "é"), {
      maxLength: 6,
    }).map((cs) => cs.join("")),
  );
  fc.assert(
    fc.property(value, (v) => assert.equal(plainValue(v), PLAIN_VALUE.test(v), JSON.stringify(v))),
    { numRuns: 20_000 },
  );
});
