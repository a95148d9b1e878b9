/**
 * The gateway's own answers for the web, in process in front of an in-process node: stale reads
 * served again from its short cache (marked, per caller, only while fresh), and CORS (answered at
 * the gateway, as a node's `--cors-origin`).
 */
import assert from "node:assert/strict";
import { createApp } from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { CACHE_HEADER, createGateway, type GatewayOptions, Upstream } from "./mod.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };
const json = { "content-type": "application/json" };

function serve(handler: Deno.ServeHandler) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  return { url: `http://127.0.0.1:${server.addr.port}`, stop: () => server.shutdown() };
}

/** A node with queue `q`, and a gateway in front of it with `options`. */
async function setUp(options: Omit<GatewayOptions, "upstream">) {
  const node = new LocalNode();
  const nodeServer = serve(createApp({ node, log: silentLogger }).fetch);
  const upstream = new Upstream({ urls: [nodeServer.url], openTimeoutMs: 300 });
  const gateway = createGateway({
    upstream,
    accept: (request) => {
      const { socket, response } = Deno.upgradeWebSocket(request);
      socket.binaryType = "arraybuffer";
      return { socket, response };
    },
    ...options,
  });
  const gw = serve(gateway.fetch);
  const put = await fetch(`${gw.url}/v1/queues/q`, { method: "PUT", headers: json, body: "{}" });
  assert.equal(put.status, 201);
  await put.body?.cancel();
  return {
    url: gw.url,
    publish: async () => {
      const res = await fetch(`${gw.url}/v1/queues/q/messages`, {
        method: "POST",
        headers: json,
        body: '{"body":1}',
      });
      assert.equal(res.status, 201);
      await res.body?.cancel();
    },
    stop: async () => {
      await upstream.close();
      await gw.stop();
      await nodeServer.stop();
    },
  };
}

/** GET of `q`'s stats: status, the cache header, and how many messages are ready. */
async function stats(url: string, query: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/v1/queues/q${query}`, { headers });
  const body = await res.json();
  return { status: res.status, cache: res.headers.get(CACHE_HEADER), ready: body.ready };
}

Deno.test({
  name: "edge stale cache: a stale read is answered again while fresh, marked, per caller",
  ...strict,
  async fn() {
    // Long enough that nothing expires while the test runs (expiry: stale_cache_test.ts).
    const { url, publish, stop } = await setUp({ staleCacheMs: 60_000 });
    try {
      await publish();
      const a = { authorization: "Bearer token-a" };
      assert.deepEqual(await stats(url, "?consistency=stale", a), {
        status: 200,
        cache: "miss",
        ready: 1,
      });
      await publish();
      const again = await fetch(`${url}/v1/queues/q?consistency=stale`, { headers: a });
      assert.match(again.headers.get(CACHE_HEADER) ?? "", /^hit; age-ms=\d+$/);
      assert.equal(again.headers.get("age"), "0");
      assert.equal((await again.json()).ready, 1, "the answer given before the second publish");
      // Another caller, a caller without a token, and a read that is not stale ask the node.
      assert.deepEqual(await stats(url, "?consistency=stale", { authorization: "Bearer b" }), {
        status: 200,
        cache: "miss",
        ready: 2,
      });
      assert.equal((await stats(url, "?consistency=stale")).cache, "miss");
      assert.deepEqual(await stats(url, "", a), { status: 200, cache: null, ready: 2 });
      const fresh = await stats(url, "?consistency=stale", { ...a, "cache-control": "no-cache" });
      assert.deepEqual(fresh, { status: 200, cache: null, ready: 2 });
      // HEAD is a GET without its body: served from the cache too.
      const head = await fetch(`${url}/v1/queues/q?consistency=stale`, {
        method: "HEAD",
        headers: a,
      });
      assert.match(head.headers.get(CACHE_HEADER) ?? "", /^hit/);
      assert.equal(await head.text(), "");
      // Not found is the node's answer every time (never kept).
      for (let n = 0; n < 2; n++) {
        const missing = await fetch(`${url}/v1/queues/nope?consistency=stale`, { headers: a });
        assert.equal(missing.status, 404);
        assert.equal(missing.headers.get(CACHE_HEADER), "miss");
        await missing.body?.cancel();
      }
    } finally {
      await stop();
    }
  },
});

Deno.test({
  name: "edge stale cache: off (0) asks the node every time, unmarked",
  ...strict,
  async fn() {
    const { url, publish, stop } = await setUp({ staleCacheMs: 0 });
    try {
      await publish();
      assert.deepEqual(await stats(url, "?consistency=stale"), {
        status: 200,
        cache: null,
        ready: 1,
      });
      await publish();
      assert.deepEqual(await stats(url, "?consistency=stale"), {
        status: 200,
        cache: null,
        ready: 2,
      });
    } finally {
      await stop();
    }
  },
});

Deno.test({
  name: "edge CORS: preflights answered at the gateway for allowed origins only; default none",
  ...strict,
  async fn() {
    const preflight = (url: string, origin: string) =>
      fetch(`${url}/v1/queues/q/messages`, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type",
        },
      });
    const allowed = await setUp({ corsOrigins: ["https://app.example"] });
    const closed = await setUp({});
    try {
      const ok = await preflight(allowed.url, "https://app.example");
      assert.equal(ok.status, 204);
      assert.equal(ok.headers.get("access-control-allow-origin"), "https://app.example");
      assert.match(ok.headers.get("access-control-allow-methods") ?? "", /POST/);
      assert.match(ok.headers.get("access-control-allow-headers") ?? "", /authorization/);
      await ok.body?.cancel();
      const other = await preflight(allowed.url, "https://evil.example");
      assert.equal(other.headers.get("access-control-allow-origin"), null);
      await other.body?.cancel();
      const none = await preflight(closed.url, "https://app.example");
      assert.equal(none.headers.get("access-control-allow-origin"), null);
      await none.body?.cancel();
      // A simple request gets the header, and the page may read the cache's headers.
      const get = await fetch(`${allowed.url}/v1/queues/q?consistency=stale`, {
        headers: { origin: "https://app.example" },
      });
      assert.equal(get.status, 200);
      assert.equal(get.headers.get("access-control-allow-origin"), "https://app.example");
      assert.match(get.headers.get("access-control-expose-headers") ?? "", /quorumq-edge-cache/);
      await get.body?.cancel();
      const plain = await fetch(`${closed.url}/v1/queues/q`, {
        headers: { origin: "https://app.example" },
      });
      assert.equal(plain.headers.get("access-control-allow-origin"), null);
      await plain.body?.cancel();
    } finally {
      await allowed.stop();
      await closed.stop();
    }
  },
});

Deno.test({
  name: "edge CORS: /v1/stream opens for a page of an allowed origin only",
  ...strict,
  async fn() {
    const allowed = await setUp({ corsOrigins: ["https://app.example"] });
    const closed = await setUp({});
    const upgrade = (url: string, origin: string) =>
      fetch(`${url}/v1/stream`, { headers: { origin, upgrade: "websocket" } });
    try {
      for (const url of [allowed.url, closed.url]) {
        const refused = await upgrade(url, "https://evil.example");
        assert.equal(refused.status, 403);
        assert.equal((await refused.json()).type, "forbidden");
      }
      const refused = await upgrade(closed.url, "https://app.example");
      assert.equal(refused.status, 403);
      await refused.body?.cancel();
      // The allowed origin opens it: the handshake a browser sends, with its Origin.
      assert.equal(await handshake(allowed.url, "https://app.example"), "HTTP/1.1 101");
      assert.equal(await handshake(closed.url, "https://app.example"), "HTTP/1.1 403");
      assert.equal(await handshake(closed.url, undefined), "HTTP/1.1 101", "no Origin: no browser");
    } finally {
      await allowed.stop();
      await closed.stop();
    }
  },
});

/** The status line a WebSocket handshake to `/v1/stream` gets, sent as a browser sends it. */
async function handshake(url: string, origin: string | undefined): Promise<string> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    const lines = [
      "GET /v1/stream HTTP/1.1",
      `host: ${hostname}:${port}`,
      "upgrade: websocket",
      "connection: Upgrade",
      "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version: 13",
      ...(origin !== undefined ? [`origin: ${origin}`] : []),
    ];
    await conn.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
    const buf = new Uint8Array(256);
    const n = await conn.read(buf);
    return new TextDecoder().decode(buf.subarray(0, n ?? 0)).slice(0, 12);
  } finally {
    conn.close();
  }
}

Deno.test({
  name: "edge: a caller that goes away cancels its long poll on the node, and logs no failure",
  ...strict,
  async fn() {
    const node = new LocalNode();
    const nodeServer = serve(createApp({ node, log: silentLogger }).fetch);
    const upstream = new Upstream({ urls: [nodeServer.url], followLeader: false });
    const gw = serve(createGateway({ upstream }).fetch);
    const logged: string[] = [];
    const error = console.error;
    console.error = (...args: unknown[]) => logged.push(args.map(String).join(" "));
    try {
      const put = await fetch(`${gw.url}/v1/queues/q`, {
        method: "PUT",
        headers: json,
        body: "{}",
      });
      await put.body?.cancel();
      const stream = await upstream.connection();
      const gone = new AbortController();
      const poll = fetch(`${gw.url}/v1/queues/q/receive`, {
        method: "POST",
        headers: json,
        body: '{"waitMs":60000}',
        signal: gone.signal,
      }).catch(() => undefined);
      // Bounded: the poll reaches the stream within a few hops of the event loop.
      for (let n = 0; n < 200 && stream.inFlight === 0; n++) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal(stream.inFlight, 1);
      gone.abort();
      await poll;
      for (let n = 0; n < 200 && stream.inFlight > 0; n++) {
        await new Promise((r) => setTimeout(r, 5));
      }
      // The cancel went first on the stream: the message is not leased to the poll that left.
      const pub = await fetch(`${gw.url}/v1/queues/q/messages`, {
        method: "POST",
        headers: json,
        body: '{"body":"m"}',
      });
      assert.equal(pub.status, 201);
      await pub.body?.cancel();
      const got = await fetch(`${gw.url}/v1/queues/q/receive`, {
        method: "POST",
        headers: json,
        body: '{"waitMs":0}',
      });
      assert.equal((await got.json()).messages.length, 1);
      assert.deepEqual(logged.filter((l) => l.includes("edge_request_failed")), []);
    } finally {
      console.error = error;
      await upstream.close();
      await gw.stop();
      await nodeServer.stop();
    }
  },
});
