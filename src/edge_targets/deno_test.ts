/**
 * The Deno gateway's stop: a client stream through it ends with 1001 (going away, reconnect
 * elsewhere), also one with a request in flight on the cluster stream that the stop closes (not
 * 1011, "the gateway's stream to the cluster was lost", which would say the cluster was lost).
 */
import assert from "node:assert/strict";
import { createApp } from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { StreamConnection } from "../client/mod.ts";
import { edgeSettings } from "../edge/mod.ts";
import { serveEdge } from "./deno.ts";

Deno.test({
  name: "serveEdge stop: a client stream with a long poll in flight closes with 1001",
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const node = new LocalNode();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      createApp({ node, log: silentLogger }).fetch,
    );
    const nodeUrl = `http://127.0.0.1:${server.addr.port}`;
    const put = await fetch(`${nodeUrl}/v1/queues/q`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    await put.body?.cancel();
    const edge = serveEdge({
      settings: edgeSettings({ QUORUMQ_UPSTREAM: nodeUrl, QUORUMQ_EDGE_FOLLOW_LEADER: "false" }),
      port: 0,
    });
    const conn = await StreamConnection.open(edge.url);
    const healthy = await conn.request("GET", "/healthz", {});
    await healthy.body?.cancel();
    // A long poll the node holds: in flight through the gateway when it stops.
    const waiting = conn.request("POST", "/v1/queues/q/receive", {}, '{"waitMs":20000}')
      .then(() => "answered", (e) => (e as Error).message);
    for (let i = 0; i < 100 && edge.upstream.node === undefined; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 100));
    await edge.stop();
    const outcome = await waiting;
    await conn.closed;
    await server.shutdown();
    assert.match(outcome, /closed \(1001 /);
  },
});

Deno.test({
  name: "serveEdge: with CORS, a publish's answer and a preflight carry the origin (headers read " +
    "around the request's forgotten headers cache, deno_request.ts)",
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const node = new LocalNode();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      createApp({ node, log: silentLogger }).fetch,
    );
    const nodeUrl = `http://127.0.0.1:${server.addr.port}`;
    const origin = "https://app.example";
    const edge = serveEdge({
      settings: edgeSettings({
        QUORUMQ_UPSTREAM: nodeUrl,
        QUORUMQ_EDGE_FOLLOW_LEADER: "false",
        QUORUMQ_EDGE_CORS_ORIGIN: origin,
      }),
      port: 0,
    });
    try {
      const json = { "content-type": "application/json", origin };
      const put = await fetch(`${edge.url}/v1/queues/q`, {
        method: "PUT",
        headers: json,
        body: "{}",
      });
      assert.equal(put.status, 201);
      assert.equal(put.headers.get("access-control-allow-origin"), origin);
      await put.body?.cancel();
      const key = { ...json, "idempotency-key": "k-1" };
      for (let i = 0; i < 2; i++) {
        const pub = await fetch(`${edge.url}/v1/queues/q/messages`, {
          method: "POST",
          headers: key,
          body: '{"body":1}',
        });
        assert.equal(pub.status, 201);
        assert.equal(pub.headers.get("access-control-allow-origin"), origin);
        assert.equal((await pub.json()).seq, 1, "the key applies once");
      }
      const pre = await fetch(`${edge.url}/v1/queues/q/messages`, {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST" },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get("access-control-allow-origin"), origin);
      await pre.body?.cancel();
    } finally {
      await edge.stop();
      await server.shutdown();
    }
  },
});
