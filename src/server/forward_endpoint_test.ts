/**
 * The leader's end of the forwarding channel runs a forwarded write on the app's direct routes
 * (`NodeApp.forwarded`) without making a `Request`: every answer must be the one the app gives the
 * `Request` it would have made (status, every header, body to the byte, and the same metrics),
 * for good and bad requests, tokens, and frames the direct routes leave to the app.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  createApp,
  type ForwardedRequest,
  type LeaderAnswer,
  loadAuthenticator,
} from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { createLogger } from "../log.ts";
import { ForwardChannels } from "./forward_channel.ts";
import { handleForwardUpgrade } from "./forward_endpoint.ts";
import { FORWARD_PATH } from "./forward_frames.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const log = createLogger({ level: "error", write: () => {} });
const ADMIN = "admin-token-1";
const PUBLISHER = "publisher-token-1";

/** A leader with queues `q`, `empty`, topic `t` and subscription `s`; `direct` or all via app. */
async function leader(direct: boolean) {
  const auth = await loadAuthenticator(JSON.stringify({
    tokens: [
      { name: "admin", token: ADMIN, admin: ["*"], publish: ["*"], consume: ["*"] },
      { name: "publisher", token: PUBLISHER, publish: ["topic:t"], consume: [] },
    ],
  }));
  // A still clock: both leaders stamp the same times, so their answers are equal to the byte.
  const node = new LocalNode({ monoNowMs: () => 1_000, wallNowMs: () => 1_700_000_000_000 });
  const app = createApp({ node, log, auth, limits: { maxBodyBytes: 4096 } });
  const bearer = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };
  for (
    const [path, body] of [
      ["/v1/queues/q", "{}"],
      ["/v1/queues/empty", "{}"],
      ["/v1/topics/t", "{}"],
      ["/v1/topics/t/subscriptions/s", '{"startAt":"earliest"}'],
    ]
  ) {
    const res = await app.request(path, { method: "PUT", headers: bearer, body });
    assert.equal(res.status, 201, await res.text());
  }
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === FORWARD_PATH
        ? handleForwardUpgrade(req, app.fetch, log, { direct: direct ? app.forwarded : undefined })
        : app.fetch(req),
  );
  return { base: `http://127.0.0.1:${server.addr.port}`, server };
}

type Case = [path: string, body: string | Uint8Array | undefined, headers?: [string, string][]];

const json: [string, string] = ["content-type", "application/json"];
const admin: [string, string] = ["authorization", `Bearer ${ADMIN}`];

const CASES: readonly Case[] = [
  ["/v1/queues/q/messages", '{"id":"a","body":{"x":1}}'],
  ["/v1/queues/q/messages", '{"id":"a","body":{"x":1}}'],
  ["/v1/queues/q/messages", '{"id":"b"}'],
  ["/v1/queues/q/messages", '{"body":'],
  ["/v1/queues/q/messages", undefined],
  ["/v1/queues/q/messages", `{"body":"${"x".repeat(5000)}"}`],
  ["/v1/queues/q/messages", '{"body":1}', [["content-type", "text/plain"], admin]],
  ["/v1/queues/q/messages", '{"body":1}', [admin]],
  ["/v1/queues/nope/messages", '{"body":1}'],
  ["/v1/queues/q/messages", '{"messages":[{"body":1},{"body":2,"delayMs":-1}]}'],
  ["/v1/queues/q/messages", '{"messages":[{"body":1},{"body":2}]}'],
  ["/v1/queues/q/messages", '{"body":"k"}', [json, admin, ["idempotency-key", "k1"]]],
  ["/v1/queues/q/messages", '{"body":"k"}', [json, admin, ["idempotency-key", "k1"]]],
  ["/v1/queues/q/messages", '{"body":"o"}', [json, admin, ["idempotency-key", "k1"]]],
  ["/v1/queues/q/messages", '{"body":1}', [json, admin, ["idempotency-key", "has space"]]],
  ["/v1/queues/q/messages", '{"body":1}', [json, admin, ["quorumq-session", "1/0/0"]]],
  ["/v1/queues/q/messages", '{"body":1}', [json]],
  ["/v1/queues/q/messages", '{"body":1}', [json, ["authorization", "Bearer nope"]]],
  ["/v1/queues/q/messages", '{"body":1}', [json, ["authorization", `Bearer ${PUBLISHER}`]]],
  ["/v1/topics/t/messages", '{"body":1}', [json, ["authorization", `Bearer ${PUBLISHER}`]]],
  ["/v1/queues/q/messages", '{"body":1}', [json, admin, ["x-quorumq-forwarded-by", "n9"]]],
  // Frames the direct routes leave to the app: odd header names or values, twice the same
  // name, a body that is not UTF-8 or starts with a byte order mark, a query, another route.
  ["/v1/queues/q/messages", '{"body":"U"}', [["Content-Type", "application/json"], admin]],
  ["/v1/queues/q/messages", '{"body":1}', [json, admin, ["x-pad", " padded "]]],
  ["/v1/queues/q/messages", '{"body":1}', [json, admin, ["x-twice", "a"], ["x-twice", "b"]]],
  ["/v1/queues/q/messages", new Uint8Array([0x7b, 0xff, 0x7d])],
  ["/v1/queues/q/messages", '{"body":"\uFFFD is a character"}'],
  ["/v1/queues/q/messages", new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22])],
  [
    "/v1/queues/q/messages",
    new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('{"body":"bom"}')]),
  ],
  ["/v1/queues/q/messages?x=1", '{"body":1}'],
  ["/v1/queues/q/purge", undefined],
  ["/v1/queues/q/ack", '{"receipts":[]}'],
  ["/v1/queues/q/ack", '{"receipts":["r-1"]}'],
  ["/v1/queues/q/nack", '{"receipts":["r"],"delayMs":"x"}'],
  ["/v1/queues/q/extend", '{"receipts":["r"]}'],
  ["/v1/queues/q/receive", '{"max":0}'],
  ["/v1/queues/q/receive", '{"max":2}'],
  ["/v1/queues/q/ack", undefined],
  ["/v1/queues/empty/receive", '{"max":1,"waitMs":1}'],
  ["/v1/topics/t/subscriptions/s/receive", '{"max":1000}'],
  ["/v1/topics/t/subscriptions/nope/nack", '{"receipts":["r"]}'],
];

function request(base: string, [path, body, headers]: Case): ForwardedRequest {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  return {
    leaderUrl: base,
    path,
    method: "POST",
    headers: headers ?? [json, admin],
    body: bytes as Uint8Array<ArrayBuffer> | undefined,
    signal: AbortSignal.timeout(5_000),
  };
}

const whole = (a: LeaderAnswer) => ({
  status: a.status,
  headers: [...a.headers],
  body: new TextDecoder().decode(a.body),
});

/** The POST requests a leader counted, by route and status (its `/metrics`). */
async function counted(base: string) {
  const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return (await res.text()).split("\n")
    .filter((l) => l.startsWith("quorumq_http_requests_total{") && l.includes('"POST"'))
    .sort();
}

Deno.test({
  name: "a forwarded write run on the direct routes answers what the app answers",
  ...opts,
  async fn() {
    const viaApp = await leader(false);
    const direct = await leader(true);
    const channels = new ForwardChannels({ connectTimeoutMs: 2_000 });
    try {
      for (const c of CASES) {
        const expected = whole(await channels.fetch(request(viaApp.base, c)));
        const got = whole(await channels.fetch(request(direct.base, c)));
        assert.deepEqual(got, expected, `${c[0]} ${String(c[1]).slice(0, 40)}`);
      }
      // A body that is not UTF-8 reaches the routes as such, a real U+FFFD as text (both ways).
      for (const base of [viaApp.base, direct.base]) {
        for (const bytes of [[0x7b, 0xff, 0x7d], [0x22, 0xed, 0xa0, 0x80, 0x22]]) {
          const c: Case = ["/v1/queues/q/messages", new Uint8Array(bytes)];
          const answer = whole(await channels.fetch(request(base, c)));
          assert.equal(JSON.parse(answer.body).detail, "The body is not valid UTF-8");
        }
        const c: Case = ["/v1/queues/q/messages", '{"body":"\uFFFD"}'];
        const fffd = whole(await channels.fetch(request(base, c)));
        assert.equal(fffd.status, 201, fffd.body);
      }
      const app = await counted(viaApp.base);
      assert.ok(app.length > 10, app.join("\n"));
      assert.deepEqual(await counted(direct.base), app);
    } finally {
      channels.close();
      await Promise.all([viaApp, direct].map((l) => l.server.shutdown()));
    }
  },
});
