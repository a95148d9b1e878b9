/**
 * The gateway in process, in front of an in-process node (`LocalNode` behind the real app) over
 * real sockets: the outcomes of a lost stream (`unknown_outcome` for a write, a read sent again,
 * `no_leader` when nothing was reached), and `/v1/stream` relayed with its credit and its loss.
 */
import assert from "node:assert/strict";
import { createApp } from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { Client, packValue, StreamConnection, unpackValue } from "../client/mod.ts";
import { createGateway, Upstream } from "./mod.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };

function serve(handler: Deno.ServeHandler) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  return { url: `http://127.0.0.1:${server.addr.port}`, stop: () => server.shutdown() };
}

/** A node, and a gateway in front of it. */
function setUp(upstreamUrls?: string[], silenceMs?: number, probeTimeoutMs = silenceMs) {
  const node = new LocalNode();
  const nodeServer = serve(createApp({ node, log: silentLogger }).fetch);
  const upstream = new Upstream({
    urls: upstreamUrls ?? [nodeServer.url],
    openTimeoutMs: 300,
    ...(silenceMs !== undefined ? { silenceMs, probeTimeoutMs } : {}),
  });
  const gateway = createGateway({
    upstream,
    accept: (request) => {
      const { socket, response } = Deno.upgradeWebSocket(request);
      socket.binaryType = "arraybuffer";
      return { socket, response };
    },
  });
  const gw = serve(gateway.fetch);
  return {
    node,
    upstream,
    url: gw.url,
    stop: async () => {
      await upstream.close();
      await gw.stop();
      await nodeServer.stop();
    },
  };
}

/** Holds every proposal until `release()`; `proposed` resolves at the first. */
function gateProposals(node: LocalNode) {
  const propose = node.propose.bind(node);
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  let proposed!: () => void;
  const first = new Promise<void>((r) => proposed = r);
  node.propose = async (p, o) => {
    proposed();
    await gate;
    return await propose(p, o);
  };
  return { release, proposed: first };
}

const json = { "content-type": "application/json" };

Deno.test({
  name: "edge: a write sent when the stream is lost is unknown_outcome; its retry applies once",
  ...strict,
  async fn() {
    const { node, upstream, url, stop } = setUp();
    try {
      const put = await fetch(`${url}/v1/queues/q`, { method: "PUT", headers: json, body: "{}" });
      assert.equal(put.status, 201);
      await put.body?.cancel();
      const gate = gateProposals(node);
      const key = { ...json, "idempotency-key": "k-1" };
      const send = () =>
        fetch(`${url}/v1/queues/q/messages`, { method: "POST", headers: key, body: '{"body":1}' });
      const write = send();
      await gate.proposed;
      await upstream.close();
      const lost = await write;
      assert.equal(lost.status, 504);
      assert.equal((await lost.json()).type, "unknown_outcome");
      gate.release();
      const retry = await send();
      assert.equal(retry.status, 201);
      assert.equal(retry.headers.get("idempotent-replayed"), "true");
      await retry.body?.cancel();
      assert.equal(node.state.queue("q")?.stats.ready, 1);
    } finally {
      await stop();
    }
  },
});

Deno.test({
  name: "edge: a read whose stream is lost is sent again once on a new stream",
  ...strict,
  async fn() {
    const { node, upstream, url, stop } = setUp();
    try {
      await (await fetch(`${url}/v1/queues/q`, { method: "PUT", headers: json, body: "{}" })).body
        ?.cancel();
      const barrier = node.readBarrier.bind(node);
      let reads = 0;
      let reached!: () => void;
      const first = new Promise<void>((r) => reached = r);
      node.readBarrier = async (o) => {
        if (++reads === 1) {
          reached();
          await upstream.close();
        }
        return await barrier(o);
      };
      const read = fetch(`${url}/v1/queues/q`);
      await first;
      const answer = await read;
      assert.equal(answer.status, 200);
      assert.equal((await answer.json()).name, "q");
      assert.equal(reads, 2);
    } finally {
      await stop();
    }
  },
});

Deno.test({
  name: "edge: a node gone silent (answers nothing, keeps the connection) ends the write unknown",
  ...strict,
  async fn() {
    // A black hole: it opens the stream (hello) and then never answers anything.
    const sockets: WebSocket[] = [];
    const hole = serve((request) => {
      const { socket, response } = Deno.upgradeWebSocket(request);
      socket.binaryType = "arraybuffer";
      sockets.push(socket);
      socket.onmessage = (e) => {
        const frame = unpackValue(new Uint8Array(e.data as ArrayBuffer).subarray(1)) as {
          t: string;
        };
        if (frame.t !== "hello") return;
        const hello = packValue({ t: "hello", node: "n1", v: 1 });
        socket.send(new Uint8Array([1, ...hello]));
      };
      return response;
    });
    const upstream = new Upstream({
      urls: [hole.url],
      followLeader: false,
      silenceMs: 100,
      probeTimeoutMs: 100,
    });
    const gw = serve(createGateway({ upstream }).fetch);
    try {
      const write = await fetch(`${gw.url}/v1/queues/q/messages`, {
        method: "POST",
        headers: json,
        body: '{"body":1}',
      });
      assert.equal(write.status, 504);
      assert.equal((await write.json()).type, "unknown_outcome");
      // Each retry of a read on a new stream meets the same silence: 503 unavailable.
      const read = await fetch(`${gw.url}/v1/queues/q`);
      assert.equal(read.status, 503);
      assert.equal((await read.json()).type, "unavailable");
    } finally {
      await upstream.close();
      for (const s of sockets) s.close();
      await gw.stop();
      await hole.stop();
    }
  },
});

Deno.test({
  name: "edge: a quiet consumer on a live node outlasts the silence check (the probe is answered)",
  ...strict,
  async fn() {
    // Silence checks every 50 ms; a probe may take up to 2 s to be answered (a busy machine
    // stalls the test process's loop longer than one window): what is under test is that an
    // answered probe keeps the stream, not how fast the answer comes.
    const { url, stop } = setUp(undefined, 50, 2_000);
    const conn = await StreamConnection.open(url);
    try {
      await (await conn.request("PUT", "/v1/queues/q", {}, "{}")).body?.cancel();
      let wake = () => {};
      const got: unknown[] = [];
      const consumer = conn.consume("/v1/queues/q/receive", {}, 1, (text) => {
        got.push(...(JSON.parse(text) as { messages: unknown[] }).messages);
        wake();
      });
      // Ten silence windows with nothing to deliver: probed, answered, kept.
      await new Promise((r) => setTimeout(r, 500));
      await (await conn.request("POST", "/v1/queues/q/messages", {}, '{"body":1}')).body?.cancel();
      // A consumer that ends (its stream lost) ends the wait too, and fails below, not uncaught.
      const ended = consumer.done.then(() => {}, () => {});
      for (let i = 0; i < 100 && got.length < 1; i++) {
        await Promise.race([new Promise<void>((r) => wake = r), ended]);
      }
      assert.equal(got.length, 1);
      consumer.cancel();
      assert.equal((await consumer.done).status, 204);
    } finally {
      await conn.close();
      await stop();
    }
  },
});

Deno.test({
  name: "edge: no node reachable is 503 no_leader with Retry-After (nothing was sent)",
  ...strict,
  async fn() {
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (closed.addr as Deno.NetAddr).port;
    closed.close();
    const { url, stop } = setUp([`http://127.0.0.1:${port}`]);
    try {
      const res = await fetch(`${url}/v1/queues/q/messages`, {
        method: "POST",
        headers: json,
        body: '{"body":1}',
      });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get("retry-after"), "1");
      const problem = await res.json();
      assert.equal(problem.type, "no_leader");
      assert.match(problem.detail, /nothing was sent/);
    } finally {
      await stop();
    }
  },
});

Deno.test({
  name: "edge /v1/stream: consume credit passes through; the node leases no more than granted",
  ...strict,
  async fn() {
    const { node, url, stop } = setUp();
    const conn = await StreamConnection.open(url);
    try {
      await (await conn.request("PUT", "/v1/queues/q", {}, "{}")).body?.cancel();
      const batch = JSON.stringify({ messages: [1, 2, 3, 4, 5].map((n) => ({ body: n })) });
      await (await conn.request("POST", "/v1/queues/q/messages", {}, batch)).body?.cancel();
      const got: unknown[] = [];
      let wake = () => {};
      const consumer = conn.consume("/v1/queues/q/receive", {}, 2, (text) => {
        got.push(...(JSON.parse(text) as { messages: unknown[] }).messages);
        wake();
      });
      const until = async (n: number) => {
        for (let i = 0; i < 100 && got.length < n; i++) await new Promise<void>((r) => wake = r);
      };
      await until(2);
      assert.equal(got.length, 2);
      assert.equal(node.state.queue("q")?.stats.leased, 2);
      consumer.grant(3);
      await until(5);
      assert.equal(got.length, 5);
      consumer.cancel();
      assert.equal((await consumer.done).status, 204);
    } finally {
      await conn.close();
      await stop();
    }
  },
});

Deno.test({
  name:
    "edge /v1/stream: the cluster stream lost under a write ends the client's; its retry applies once",
  ...strict,
  async fn() {
    const { node, upstream, url, stop } = setUp();
    const client = new Client({ nodes: [url], transport: "stream", retry: { baseDelayMs: 1 } });
    try {
      await client.createQueue("q");
      const gate = gateProposals(node);
      const write = client.publish("q", { body: "once" });
      await gate.proposed;
      await upstream.close();
      gate.release();
      const result = await write;
      assert.equal(result.duplicate, false);
      assert.equal(node.state.queue("q")?.stats.ready, 1);
    } finally {
      await client.close();
      await stop();
    }
  },
});

Deno.test({
  name: "edge: what the gateway answers itself: /healthz, paths outside the API, HEAD, big bodies",
  ...strict,
  async fn() {
    const { url, stop } = setUp();
    try {
      const health = await fetch(`${url}/healthz`);
      assert.equal((await health.json()).gateway, true);
      const post = await fetch(`${url}/healthz`, { method: "POST" });
      assert.equal(post.status, 405);
      assert.match(post.headers.get("allow") ?? "", /GET/);
      await post.body?.cancel();
      const outside = await fetch(`${url}/ui`);
      assert.equal((await outside.json()).type, "not_found");
      await (await fetch(`${url}/v1/queues/q`, { method: "PUT", headers: json, body: "{}" })).body
        ?.cancel();
      const head = await fetch(`${url}/v1/queues/q`, { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(await head.text(), "");
      const big = await fetch(`${url}/v1/queues/q/messages`, {
        method: "POST",
        headers: json,
        body: JSON.stringify({ body: "x".repeat(1 << 20) }),
      });
      assert.equal(big.status, 413);
      assert.equal((await big.json()).type, "payload_too_large");
    } finally {
      await stop();
    }
  },
});

Deno.test({
  name: "edge /v1/stream: a client that reads batches gets them, as from a node",
  ...strict,
  async fn() {
    const { node, url, stop } = setUp();
    const conn = await StreamConnection.open(url);
    try {
      assert.equal(conn.hello.batch, true);
      await (await conn.request("PUT", "/v1/queues/q", {}, "{}")).body?.cancel();
      // Sent in one turn: one message of 50 frames each way.
      const answers = await Promise.all(
        Array.from(
          { length: 50 },
          (_, n) => conn.request("POST", "/v1/queues/q/messages", {}, JSON.stringify({ body: n })),
        ),
      );
      for (const a of answers) {
        assert.equal(a.status, 201);
        await a.body?.cancel();
      }
      assert.equal(node.state.queue("q")?.stats.ready, 50);
    } finally {
      await conn.close();
      await stop();
    }
  },
});
