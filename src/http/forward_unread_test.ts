/**
 * A follower forwards a write before reading it (`forwardUnread`): the leader's answer is its
 * answer. So every write sent to a follower must get what the same write sent to the leader gets
 * (good and bad, over Hono and the direct routes); and when the leader cannot be reached, a write
 * the route refuses must still get that refusal, and only a good one the forward's failure.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createApp } from "./app.ts";
import { loadAuthenticator } from "./auth.ts";
import { LocalNode, type LocalNodeOptions } from "./testing/local_node.ts";
import { silentLogger } from "../log.ts";

const ADMIN = "admin-token-1";
const PUBLISHER = "publisher-token-1";
const auth = await loadAuthenticator(JSON.stringify({
  tokens: [
    { name: "admin", token: ADMIN, admin: ["*"], publish: ["*"], consume: ["*"] },
    { name: "publisher", token: PUBLISHER, publish: ["topic:t"], consume: [] },
  ],
}));

/** A node served on loopback (CORS on: through Hono's routes); `setup` makes the cases' queues. */
async function served(mode: LocalNodeOptions["mode"], cors: boolean, setup: boolean) {
  // A still clock: every leader stamps the same times, so answers are equal to the byte.
  const node = new LocalNode({
    nodeId: mode?.kind === "follower" ? "n2" : "n1",
    monoNowMs: () => 1_000,
    wallNowMs: () => 1_700_000_000_000,
    ...(mode ? { mode } : {}),
  });
  const corsOrigins = cors ? ["https://app.example"] : [];
  const app = createApp({
    node,
    log: silentLogger,
    auth,
    limits: { maxBodyBytes: 4096 },
    corsOrigins,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  const bearer = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };
  const made = [
    ["/v1/queues/q", "{}"],
    ["/v1/topics/t", "{}"],
    ["/v1/topics/t/subscriptions/s", '{"startAt":"earliest"}'],
  ];
  for (const [path, body] of setup ? made : []) {
    const res = await fetch(url + path, { method: "PUT", headers: bearer, body });
    assert.equal(res.status, 201, await res.text());
  }
  return { url, server };
}

interface Case {
  readonly path: string;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  readonly token?: string;
  /** A write the route takes: refused only by a forward that fails. */
  readonly good?: boolean;
}

const CASES: readonly Case[] = [
  { path: "/v1/queues/q/messages", body: '{"id":"a","body":{"x":1}}', good: true },
  { path: "/v1/queues/q/messages", body: '{"id":"a","body":{"x":1}}', good: true },
  { path: "/v1/queues/q/messages", body: '{"messages":[{"body":1},{"body":2}]}', good: true },
  { path: "/v1/queues/q/messages", body: '{"id":"b"}' },
  { path: "/v1/queues/q/messages", body: '{"body":1,"bogus":2}' },
  { path: "/v1/queues/q/messages", body: '{"body":' },
  { path: "/v1/queues/q/messages", body: "" },
  { path: "/v1/queues/q/messages", body: "[]" },
  { path: "/v1/queues/q/messages", body: `{"body":"${"x".repeat(5000)}"}` },
  { path: "/v1/queues/q/messages", body: '{"body":1}', headers: { "content-type": "text/plain" } },
  { path: "/v1/queues/q/messages", body: '{"messages":[{"body":1},{"body":2,"delayMs":-1}]}' },
  { path: "/v1/queues/nope/messages", body: '{"body":1}', good: true },
  { path: "/v1/queues/q/messages", body: '{"body":1}', token: PUBLISHER },
  { path: "/v1/queues/q/messages", body: '{"body":1}', token: "nope" },
  { path: "/v1/queues/q/messages", body: '{"body":1}', headers: { "quorumq-session": "1/0/0" } },
  {
    path: "/v1/queues/q/messages",
    body: '{"body":1}',
    headers: { "quorumq-session": "7/1/1", "idempotency-key": "k1" },
  },
  {
    path: "/v1/queues/q/messages",
    body: '{"body":1}',
    headers: { "idempotency-key": "has space" },
  },
  {
    path: "/v1/queues/q/messages",
    body: '{"body":"k"}',
    headers: { "idempotency-key": "k2" },
    good: true,
  },
  {
    path: "/v1/queues/q/messages",
    body: '{"body":"o"}',
    headers: { "idempotency-key": "k2" },
    good: true,
  },
  { path: "/v1/topics/t/messages", body: '{"subject":"a.b","body":1}', good: true },
  { path: "/v1/topics/t/messages", body: '{"subject":"a.*","body":1}' },
  { path: "/v1/topics/t/messages", body: '{"body":1}', token: PUBLISHER, good: true },
  { path: "/v1/queues/q/ack", body: '{"receipts":[]}' },
  { path: "/v1/queues/q/ack", body: '{"receipts":["r-1"]}', good: true },
  { path: "/v1/queues/q/ack" },
  { path: "/v1/queues/q/ack", body: '{"receipts":[],"x":1}' },
  { path: "/v1/queues/q/nack", body: '{"receipts":["r"],"delayMs":"x"}' },
  { path: "/v1/queues/q/extend", body: '{"receipts":["r"]}' },
  { path: "/v1/queues/q/extend", body: '{"receipts":["r"],"leaseMs":1000}', good: true },
  { path: "/v1/topics/t/subscriptions/s/ack", body: '{"receipts":["r"]}', good: true },
  { path: "/v1/topics/t/subscriptions/s/nack", body: '{"receipts":"r"}' },
];

async function comparable(res: Response) {
  const text = await res.text();
  const headers: Record<string, string> = {};
  for (const name of ["content-type", "idempotent-replayed", "retry-after", "www-authenticate"]) {
    const value = res.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  return { status: res.status, headers, body: text === "" ? undefined : JSON.parse(text) };
}

const post = async (url: string, c: Case) =>
  await comparable(
    await fetch(url + c.path, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${c.token ?? ADMIN}`,
        ...c.headers,
      },
      body: c.body,
    }),
  );

Deno.test("a write sent to a follower gets what the same write sent to the leader gets", async () => {
  // The same requests in the same order: to a leader, and to a follower (direct routes, and
  // through Hono) of another leader set up the same way.
  const leaders = [
    await served(undefined, false, true),
    await served(undefined, false, true),
    await served(undefined, false, true),
  ];
  const followers = [
    await served({ kind: "follower", leaderId: "n1", leaderUrl: leaders[1].url }, false, false),
    await served({ kind: "follower", leaderId: "n1", leaderUrl: leaders[2].url }, true, false),
  ];
  try {
    for (const c of CASES) {
      const expected = await post(leaders[0].url, c);
      for (const f of followers) assert.deepEqual(await post(f.url, c), expected, c.path + c.body);
    }
  } finally {
    await Promise.all([...leaders, ...followers].map((n) => n.server.shutdown()));
  }
});

Deno.test("a follower that cannot reach its leader refuses a bad write as the route does", async () => {
  // The leader's URL refuses connections: nothing is sent, so a good write is `no_leader`.
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadUrl = `http://127.0.0.1:${closed.addr.port}`;
  closed.close();
  const leader = await served(undefined, false, true);
  const followers = [
    await served({ kind: "follower", leaderId: "n1", leaderUrl: deadUrl }, false, false),
    await served({ kind: "follower", leaderId: "n1", leaderUrl: deadUrl }, true, false),
  ];
  try {
    for (const c of CASES) {
      for (const f of followers) {
        const got = await post(f.url, c);
        const refused = got.status === 503 && got.body?.type === "no_leader";
        if (c.good) assert.ok(refused, `${c.path} ${c.body}: ${JSON.stringify(got)}`);
        // A refusal is the route's own, as the leader gives it (before any write of its own).
        else assert.deepEqual(got, await post(leader.url, c), `${c.path} ${c.body}`);
      }
    }
  } finally {
    await Promise.all([leader, ...followers].map((n) => n.server.shutdown()));
  }
});
