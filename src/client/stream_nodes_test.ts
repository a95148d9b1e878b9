/**
 * The stream with auth on (a hello token, a bad token, an upgrade header; permissions per
 * operation), and on a follower (writes go to the leader, answers come back on the stream).
 */
import assert from "node:assert/strict";
import { createApp, loadAuthenticator } from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { Client } from "./client.ts";
import { Forbidden } from "./errors.ts";
import { StreamConnection } from "./stream.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };

const AUTH_FILE = JSON.stringify({
  tokens: [
    { name: "producer", token: "prod-token-1", publish: ["orders"] },
    { name: "ops", token: "ops-token-123", admin: ["*"] },
  ],
});

function serve(handler: Deno.ServeHandler) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  return { url: `http://127.0.0.1:${server.addr.port}`, stop: () => server.shutdown() };
}

Deno.test({
  name: "stream auth: hello with a token opens it; a bad or missing token closes it",
  ...strict,
  async fn() {
    const auth = await loadAuthenticator(AUTH_FILE);
    const node = new LocalNode();
    const { url, stop } = serve(createApp({ node, log: silentLogger, auth }).fetch);
    const ops = new Client({ nodes: [url], token: "ops-token-123", transport: "stream" });
    const producer = new Client({ nodes: [url], token: "prod-token-1", transport: "stream" });
    try {
      await ops.createQueue("orders");
      await producer.publish("orders", { body: 1 });
      await assert.rejects(producer.createQueue("other"), Forbidden);
      assert.equal(node.state.queue("orders")?.stats.ready, 1);
      await assert.rejects(StreamConnection.open(url, "wrong-token"), /not valid/);
      await assert.rejects(StreamConnection.open(url), /not valid|bearer token/);
      // No hello: the first request is refused and the stream closes.
      const socket = new WebSocket(url.replace("http", "ws") + "/v1/stream");
      const closed = new Promise<CloseEvent>((r) => socket.onclose = r);
      await new Promise((r) => socket.onopen = r);
      socket.send(new Uint8Array([1, 0x81, 0xa1, 0x74, 0xa3, 0x72, 0x65, 0x71])); // {t:"req"}
      assert.equal((await closed).code, 1008);
      const denied = await fetch(`${url}/v1/stream`, {
        headers: { authorization: "Bearer wrong-token", upgrade: "websocket" },
      });
      assert.equal(denied.status, 401);
      await denied.body?.cancel();
    } finally {
      await ops.close();
      await producer.close();
      await stop();
    }
  },
});

/**
 * A leader n1 and a follower n2 on local servers. `named`: n2's members carry n1's URL, so its
 * `/readyz` names the leader's URL and a client's stream moves there; without, it stays on n2.
 */
function leaderAndFollower(named: boolean) {
  const leader = new LocalNode({ nodeId: "n1" });
  const leaderServer = serve(createApp({ node: leader, log: silentLogger }).fetch);
  const follower = new LocalNode({
    nodeId: "n2",
    mode: { kind: "follower", leaderId: "n1", leaderUrl: leaderServer.url },
    ...(named
      ? { peers: [{ id: "n1", url: leaderServer.url, role: "leader", matchIndex: 0 }] }
      : {}),
  });
  const followerServer = serve(createApp({ node: follower, log: silentLogger }).fetch);
  return { leader, leaderServer, follower, followerServer };
}

Deno.test({
  name: "stream on a follower: writes go to the leader and its answers come back",
  ...strict,
  async fn() {
    const { leader, leaderServer, follower, followerServer } = leaderAndFollower(false);
    const client = new Client({ nodes: [followerServer.url], transport: "stream" });
    try {
      await client.createQueue("q");
      const first = await client.publish("q", { body: "x", id: "m1" });
      assert.equal(first.duplicate, false);
      assert.equal((await client.publish("q", { body: "x", id: "m1" })).duplicate, true);
      assert.equal(leader.state.queue("q")?.stats.ready, 1);
      assert.equal(follower.state.queue("q"), undefined);
      const [got] = await client.receive("q");
      assert.equal(got.body, "x");
      assert.equal((await client.ack("q", got.receipt))[0].status, "acked");
    } finally {
      await client.close();
      await followerServer.stop();
      await leaderServer.stop();
    }
  },
});

Deno.test({
  name: "stream: once a follower's calls ride the leader's stream, Answer.node names the leader",
  ...strict,
  async fn() {
    const { leaderServer, followerServer } = leaderAndFollower(true);
    const client = new Client({ nodes: [followerServer.url], transport: "stream" });
    const list = { method: "GET", path: "/v1/queues", mutating: false } as const;
    try {
      const first = await client.transport.request(list);
      const pool = client.transport.streams!;
      // The pool asks the follower who leads once its stream is open, then moves (bounded).
      for (let i = 0; i < 200 && await pool.nodeOf(followerServer.url) !== "n1"; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(await pool.nodeOf(followerServer.url), "n1", "moved to the leader's stream");
      const moved = await client.transport.request(list);
      assert.equal(moved.node, leaderServer.url);
      assert.ok([followerServer.url, leaderServer.url].includes(first.node), first.node);
    } finally {
      await client.close();
      await followerServer.stop();
      await leaderServer.stop();
    }
  },
});

Deno.test({
  name: "stream: a leader URL the client cannot reach leaves the stream on its node",
  ...strict,
  async fn() {
    const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const deadUrl = `http://127.0.0.1:${dead.addr.port}`;
    dead.close(); // nothing listens there now
    const follower = new LocalNode({
      nodeId: "n2",
      mode: { kind: "follower", leaderId: "n1", leaderUrl: deadUrl },
    });
    const server = serve(createApp({ node: follower, log: silentLogger }).fetch);
    const client = new Client({ nodes: [server.url], transport: "stream" });
    try {
      const pool = client.transport.streams!;
      for (let i = 0; i < 5; i++) {
        assert.deepEqual(await client.listQueues(), []);
        assert.equal(String((await pool.connection(server.url)).hello.node), "n2");
      }
    } finally {
      await client.close();
      await server.stop();
    }
  },
});
