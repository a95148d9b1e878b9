/**
 * What an edge gateway needs of the stream (docs/edge.md): a relay token's stream runs each
 * request as the caller whose `authorization` it carries (never as the gateway), another
 * stream may not relay; the operations paths, any method (405 from the app) and the request's
 * content type pass; answers carry their content type and `www-authenticate`.
 */
import assert from "node:assert/strict";
import { createApp, loadAuthenticator } from "./mod.ts";
import { LocalNode } from "./testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { StreamConnection } from "../client/mod.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };

const AUTH_FILE = JSON.stringify({
  tokens: [
    { name: "edge", token: "edge-token-1", relay: true },
    { name: "producer", token: "prod-token-1", publish: ["orders"] },
    { name: "ops", token: "ops-token-123", admin: ["*"] },
  ],
});

async function serveWithAuth() {
  const auth = await loadAuthenticator(AUTH_FILE);
  const node = new LocalNode();
  const app = createApp({ node, log: silentLogger, auth });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  return { node, url: `http://127.0.0.1:${server.addr.port}`, stop: () => server.shutdown() };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

Deno.test({
  name: "stream relay: each request runs as the caller it carries, never as the relay token",
  ...strict,
  async fn() {
    const { node, url, stop } = await serveWithAuth();
    const edge = await StreamConnection.open(url, "edge-token-1");
    try {
      // No caller token: 401 as over HTTP, with its challenge; the relay token lends nothing.
      const anonymous = await edge.request("PUT", "/v1/queues/orders", {}, "{}");
      assert.equal(anonymous.status, 401);
      assert.match(anonymous.headers.get("www-authenticate") ?? "", /^Bearer/);
      assert.match(anonymous.headers.get("content-type") ?? "", /^application\/problem\+json/);
      assert.equal((await anonymous.json()).type, "unauthorized");
      const created = await edge.request("PUT", "/v1/queues/orders", bearer("ops-token-123"), "{}");
      assert.equal(created.status, 201);
      assert.match(created.headers.get("content-type") ?? "", /^application\/json/);
      await created.body?.cancel();
      const denied = await edge.request("DELETE", "/v1/queues/orders", bearer("prod-token-1"));
      assert.equal((await denied.json()).type, "forbidden");
      const published = await edge.request(
        "POST",
        "/v1/queues/orders/messages",
        bearer("prod-token-1"),
        '{"body":1}',
      );
      assert.equal(published.status, 201);
      await published.body?.cancel();
      const wrong = await edge.request("GET", "/v1/queues", bearer("not-a-token"));
      assert.equal((await wrong.json()).type, "unauthorized");
      // A consumer runs as its caller too: the producer may not consume.
      const consumer = edge.consume("/v1/queues/orders/receive", {}, 1, () => {}, {
        authorization: "Bearer prod-token-1",
      });
      const ended = await consumer.done;
      assert.equal((await ended.json()).type, "forbidden");
      assert.equal(node.state.queue("orders")?.stats.ready, 1);
    } finally {
      await edge.close();
      await stop();
    }
  },
});

Deno.test({
  name: "stream relay: a stream whose token may not relay is refused a caller's authorization",
  ...strict,
  async fn() {
    const { node, url, stop } = await serveWithAuth();
    const ops = await StreamConnection.open(url, "ops-token-123");
    try {
      const refused = await ops.request("PUT", "/v1/queues/q", bearer("prod-token-1"), "{}");
      assert.equal(refused.status, 403);
      assert.match((await refused.json()).detail, /may not relay/);
      const consumer = ops.consume("/v1/queues/q/receive", {}, 1, () => {}, bearer("x-token-1"));
      assert.equal((await (await consumer.done).json()).type, "forbidden");
      assert.equal(node.state.queue("q"), undefined);
      // Its own requests run as itself, as before.
      const own = await ops.request("PUT", "/v1/queues/q", {}, "{}");
      assert.equal(own.status, 201);
      await own.body?.cancel();
    } finally {
      await ops.close();
      await stop();
    }
  },
});

Deno.test({
  name: "stream: operations paths, any method, the request's content type, as over HTTP",
  ...strict,
  async fn() {
    const { url, stop } = await serveWithAuth();
    const edge = await StreamConnection.open(url, "edge-token-1");
    try {
      const ready = await edge.request("GET", "/readyz", {});
      const body = await ready.json();
      assert.equal(body.leaderId, "n1");
      assert.equal(typeof body.leaderUrl, "string");
      const api = await edge.request("GET", "/openapi.json", {});
      assert.match((await api.json()).openapi, /^3\./);
      const metrics = await edge.request("GET", "/metrics", bearer("ops-token-123"));
      assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain/);
      assert.match(await metrics.text(), /quorumq_raft_term/);
      const patch = await edge.request("PATCH", "/v1/queues/x", bearer("ops-token-123"), "{}");
      assert.equal(patch.status, 405);
      assert.match(patch.headers.get("allow") ?? "", /PUT/);
      await patch.body?.cancel();
      await edge.request("PUT", "/v1/queues/orders", bearer("ops-token-123"), "{}").then((r) =>
        r.body?.cancel()
      );
      const text = await edge.request(
        "POST",
        "/v1/queues/orders/messages",
        { ...bearer("prod-token-1"), "content-type": "text/plain" },
        '{"body":1}',
      );
      assert.equal((await text.json()).type, "unsupported_media_type");
    } finally {
      await edge.close();
      await stop();
    }
  },
});
