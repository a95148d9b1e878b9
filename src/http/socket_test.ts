import assert from "node:assert/strict";
import { silentLogger } from "../log.ts";
import { createApp } from "./app.ts";
import { parse } from "./testing/call.ts";
import { LocalNode } from "./testing/local_node.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };

/** Serves `handler` on 127.0.0.1, port 0; returns its URL and a stopper. */
function serve(handler: Deno.ServeHandler) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  const url = `http://127.0.0.1:${server.addr.port}`;
  return { url, stop: () => server.shutdown() };
}

/** A leader app and a follower app on real sockets; the follower knows the leader's URL. */
function twoNodes(limits = {}) {
  const leader = new LocalNode({ nodeId: "n1" });
  const leaderServer = serve(createApp({ node: leader, log: silentLogger, limits }).fetch);
  const follower = new LocalNode({
    nodeId: "n2",
    mode: { kind: "follower", leaderId: "n1", leaderUrl: leaderServer.url },
  });
  const followerServer = serve(createApp({ node: follower, log: silentLogger, limits }).fetch);
  return {
    leader,
    follower,
    leaderUrl: leaderServer.url,
    followerUrl: followerServer.url,
    stop: async () => {
      await followerServer.stop();
      await leaderServer.stop();
    },
  };
}

async function send(url: string, method: string, body?: unknown, headers = {}) {
  const res = await fetch(url, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return await parse(res);
}

Deno.test({
  name: "over sockets: a follower forwards writes to the leader and relays its answers",
  ...strict,
  async fn() {
    const nodes = twoNodes();
    try {
      const created = await send(`${nodes.followerUrl}/v1/queues/q`, "PUT", { leaseMs: 1000 });
      assert.equal(created.status, 201);
      assert.equal(nodes.leader.state.queue("q")?.config.leaseMs, 1000);
      const key = { "idempotency-key": "sock-1", authorization: "Bearer ignored-when-off" };
      const pub = await send(`${nodes.followerUrl}/v1/queues/q/messages`, "POST", { body: 1 }, key);
      assert.equal(pub.status, 201);
      const replay = await send(
        `${nodes.followerUrl}/v1/queues/q/messages`,
        "POST",
        { body: 1 },
        key,
      );
      assert.equal(replay.status, 201);
      assert.equal(replay.headers.get("idempotent-replayed"), "true");
      assert.equal(nodes.leader.state.queue("q")?.stats.published, 1);
      // Problems come back as the leader sent them.
      const missing = await send(`${nodes.followerUrl}/v1/queues/none/messages`, "POST", {
        body: 1,
      });
      assert.equal(missing.status, 404);
      assert.equal(missing.headers.get("content-type"), "application/problem+json");
      assert.equal(missing.body.type, "queue_not_found");
      const del = await send(`${nodes.followerUrl}/v1/queues/q`, "DELETE");
      assert.equal(del.status, 204);
    } finally {
      await nodes.stop();
    }
  },
});

Deno.test({
  name: "over sockets: a long poll forwarded to the leader is woken by a publish",
  ...strict,
  async fn() {
    const nodes = twoNodes();
    try {
      await send(`${nodes.followerUrl}/v1/queues/q`, "PUT", {});
      const pending = send(`${nodes.followerUrl}/v1/queues/q/receive`, "POST", { waitMs: 5000 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await send(`${nodes.leaderUrl}/v1/queues/q/messages`, "POST", { body: "hi" });
      const got = await pending;
      assert.equal(got.status, 200);
      assert.deepEqual(got.body.messages.map((m: { body: unknown }) => m.body), ["hi"]);
    } finally {
      await nodes.stop();
    }
  },
});

Deno.test({
  name: "over sockets: oversized, unknown, wrong-method and malformed requests are 4xx",
  ...strict,
  async fn() {
    const nodes = twoNodes({ maxBodyBytes: 4096 });
    try {
      await send(`${nodes.leaderUrl}/v1/queues/q`, "PUT", {});
      const big = await send(`${nodes.leaderUrl}/v1/queues/q/messages`, "POST", {
        body: "x".repeat(10_000),
      });
      assert.equal(big.status, 413);
      assert.equal(big.body.type, "payload_too_large");
      // A chunked body with no Content-Length is cut off while reading.
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          sent++;
          if (sent > 64) controller.close();
          else controller.enqueue(new Uint8Array(1024).fill(32));
        },
      });
      const chunked = await fetch(`${nodes.leaderUrl}/v1/queues/q/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: stream,
      });
      assert.equal(chunked.status, 413);
      await chunked.body?.cancel();
      const unknown = await send(`${nodes.followerUrl}/nope`, "GET");
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.type, "not_found");
      const wrong = await send(`${nodes.followerUrl}/v1/queues/q/receive`, "GET");
      assert.equal(wrong.status, 405);
      const malformed = await fetch(`${nodes.followerUrl}/v1/queues/q/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"body": ',
      });
      const answer = await parse(malformed);
      assert.equal(answer.status, 400);
      assert.equal(answer.body.type, "invalid_request");
      assert.equal(nodes.leader.state.queue("q")?.stats.published, 0);
    } finally {
      await nodes.stop();
    }
  },
});

Deno.test({
  name: "over sockets: a leader that cannot be reached gives no_leader with Retry-After",
  ...strict,
  async fn() {
    // Take a free port and close it: connections are refused, nothing is ever sent.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const deadUrl = `http://127.0.0.1:${listener.addr.port}`;
    listener.close();
    const follower = new LocalNode({
      nodeId: "n2",
      mode: { kind: "follower", leaderId: "n1", leaderUrl: deadUrl },
    });
    const server = serve(createApp({ node: follower, log: silentLogger }).fetch);
    try {
      const a = await send(`${server.url}/v1/queues/q`, "PUT", {});
      assert.equal(a.status, 503);
      assert.equal(a.body.type, "no_leader");
      assert.equal(a.headers.get("retry-after"), "1");
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "over sockets: a leader that drops the connection after the request is unknown_outcome",
  ...strict,
  async fn() {
    // A "leader" that reads the whole request, then resets the connection without answering.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const received: string[] = [];
    const accepting = (async () => {
      const conn = await listener.accept();
      const buf = new Uint8Array(65536);
      const n = await conn.read(buf);
      received.push(new TextDecoder().decode(buf.subarray(0, n ?? 0)));
      conn.close();
    })();
    const follower = new LocalNode({
      nodeId: "n2",
      mode: {
        kind: "follower",
        leaderId: "n1",
        leaderUrl: `http://127.0.0.1:${listener.addr.port}`,
      },
    });
    const server = serve(createApp({ node: follower, log: silentLogger }).fetch);
    try {
      const a = await send(`${server.url}/v1/queues/q/messages`, "POST", { body: 1 }, {
        "idempotency-key": "lost-1",
      });
      assert.equal(a.status, 504);
      assert.equal(a.body.type, "unknown_outcome");
      await accepting;
      assert.match(received[0], /^POST \/v1\/queues\/q\/messages HTTP\/1\.1/);
      assert.match(received[0], /idempotency-key: lost-1/i);
      assert.match(received[0], /x-quorumq-forwarded-by: n2/i);
    } finally {
      listener.close();
      await server.stop();
    }
  },
});
