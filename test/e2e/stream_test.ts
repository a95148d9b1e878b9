/**
 * The stream against real node processes (3 nodes, fsync): writes on a stream to a follower go
 * to the leader over the forwarding channel; a stream killed right after each write was sent,
 * then the write retried on a new stream with the same session place, applies each write once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Client, StreamConnection, StreamLost } from "../../src/client/mod.ts";
import { Nodes } from "./nodes.ts";

/**
 * A TCP proxy to `target` whose connections can be cut at once (a dead network, not a close
 * handshake). `sent()` resolves once client bytes written after the call reached the node.
 */
function cuttableProxy(target: string) {
  const to = new URL(target);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let onUpstream = () => {};
  const pipe = async (from: Deno.Conn, into: Deno.Conn, upstream: boolean) => {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (let n = await from.read(buf); n !== null; n = await from.read(buf)) {
        await into.write(buf.subarray(0, n));
        if (upstream) onUpstream();
      }
    } catch { /* cut */ }
  };
  const pipes: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ hostname: to.hostname, port: Number(to.port) });
      conns.add(client).add(server);
      pipes.push(pipe(client, server, true), pipe(server, client, false));
    }
  })();
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    sent: () => new Promise<void>((resolve) => onUpstream = resolve),
    cut() {
      for (const c of conns) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      conns.clear();
    },
    async stop() {
      this.cut();
      listener.close();
      await accepting.catch(() => {});
      await Promise.all(pipes);
    },
  };
}

Deno.test({
  name: "e2e stream: writes killed mid-flight on a follower's stream, retried, apply once",
  // The node harness's stop leaves its kill timers behind (as in the other e2e tests).
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const nodes = await Nodes.start({ count: 3 });
    const leader = await nodes.waitLeader();
    const follower = nodes.ids.find((id) => id !== leader)!;
    const url = nodes.url(follower);
    let retryStream: StreamConnection | undefined;
    const proxy = cuttableProxy(url);
    try {
      retryStream = await StreamConnection.open(url);
      assert.equal((await retryStream.request("PUT", "/v1/queues/q", {}, "{}")).status, 201);
      const opened = await retryStream.request("POST", "/v1/sessions", {}, "{}");
      const { session } = await opened.json();
      const WRITES = 20;
      let lost = 0;
      let replayed = 0;
      for (let seq = 1; seq <= WRITES; seq++) {
        const place = { "quorumq-session": `${session}/${seq}/${seq}` };
        const body = JSON.stringify({ body: { seq } });
        const doomed = await StreamConnection.open(proxy.url);
        const reached = proxy.sent();
        const write = doomed.request("POST", "/v1/queues/q/messages", place, body);
        // Cut once the frame reached the node, before its answer: the outcome is unknown.
        await reached;
        proxy.cut();
        const first = await write.then((r) => r.status, (e) => e);
        await doomed.closed;
        if (first instanceof StreamLost) lost++;
        else assert.equal(first, 201);
        const retry = await retryStream.request("POST", "/v1/queues/q/messages", place, body);
        assert.ok(retry.status === 201, `retry of seq ${seq}: ${retry.status}`);
        if (retry.headers.get("idempotent-replayed") === "true") replayed++;
      }
      assert.ok(lost > 0, "at least one write was in flight when its stream died");
      console.log(`stream e2e: ${lost} of ${WRITES} lost in flight, ${replayed} retries replayed`);
      const stats = await retryStream.request("GET", `/v1/queues/q`, {}, undefined);
      assert.equal((await stats.json()).ready, WRITES);
      const client = new Client({ nodes: [url], transport: "stream" });
      try {
        const got = await client.receive("q", { max: 100 });
        assert.deepEqual(
          got.map((m) => (m.body as { seq: number }).seq),
          [...Array(WRITES)].map((_, i) => i + 1),
        );
      } finally {
        await client.close();
      }
    } finally {
      await retryStream?.close();
      await proxy.stop();
      await nodes.stop();
    }
  },
});
