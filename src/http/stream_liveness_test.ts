/**
 * A stream opened with `?ping=1` has no Deno idle timer (re-armed per message): it is watched
 * by its own liveness check instead. A client that vanishes without a FIN (cut here by a proxy
 * that stops passing bytes and closes nothing) is given up after 3 ping periods: the node sends
 * its close (4005), and the consumer it had stops leasing (a message published afterwards goes
 * to the next receive, not to the dead stream's credit).
 */
import assert from "node:assert/strict";
import { createApp } from "./mod.ts";
import { LocalNode } from "./testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { decodeStreamMessage, encodeStreamFrame, type StreamInFrame } from "./stream_frames.ts";
import { StreamConnection } from "../client/mod.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };

/**
 * A TCP proxy to `port` whose `cut()` stops passing bytes both ways and closes nothing; what
 * the node sends after the cut is kept.
 */
function proxyTo(port: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let cut = false;
  const conns: Deno.Conn[] = [];
  const afterCut: number[] = [];
  let nodeSpoke!: () => void;
  const nodeSpokeAfterCut = new Promise<void>((resolve) => nodeSpoke = resolve);
  const pipe = async (from: Deno.Conn, to: Deno.Conn, fromNode: boolean) => {
    const buf = new Uint8Array(16 * 1024);
    for (let i = 0; i < 1_000_000; i++) {
      const n = await from.read(buf).catch(() => null);
      if (n === null) break;
      if (!cut) await to.write(buf.subarray(0, n)).catch(() => 0);
      else if (fromNode) {
        afterCut.push(...buf.subarray(0, n));
        nodeSpoke();
      }
    }
  };
  const pipes: Promise<void>[] = [];
  const accepting = (async () => {
    const client = await listener.accept();
    const server = await Deno.connect({ hostname: "127.0.0.1", port });
    conns.push(client, server);
    pipes.push(pipe(client, server, false), pipe(server, client, true));
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    cut: () => cut = true,
    /** Resolves once the node sent something after the cut; `afterCut`: its bytes. */
    nodeSpokeAfterCut,
    afterCut,
    async close() {
      listener.close();
      await accepting.catch(() => {});
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await Promise.all(pipes);
    },
  };
}

function send(socket: WebSocket, frame: StreamInFrame): void {
  socket.send(encodeStreamFrame(frame));
}

Deno.test({
  name:
    "stream ?ping=1: a client gone without a FIN is given up after 3 ping periods, and its consumer stops leasing",
  ...strict,
  async fn() {
    const node = new LocalNode();
    const app = createApp({ node, log: silentLogger, limits: { streamPingMs: 100 } });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
    const base = `http://127.0.0.1:${server.addr.port}`;
    const json = { "content-type": "application/json" };
    const put = await fetch(`${base}/v1/queues/jobs`, { method: "PUT", headers: json, body: "{}" });
    assert.equal(put.status, 201);
    await put.body?.cancel();
    const proxy = proxyTo(server.addr.port);
    const socket = new WebSocket(`ws://127.0.0.1:${proxy.port}/v1/stream?ping=1`);
    socket.binaryType = "arraybuffer";
    const frames: Record<string, unknown>[] = [];
    let heard!: () => void;
    const hello = new Promise<void>((resolve) => heard = resolve);
    socket.onmessage = (e) => {
      for (const d of decodeStreamMessage(new Uint8Array(e.data as ArrayBuffer))) {
        if (d.ok) frames.push(d.frame as unknown as Record<string, unknown>);
      }
      heard();
    };
    const closed = new Promise<void>((resolve) => socket.onclose = () => resolve());
    await new Promise<void>((resolve) => socket.onopen = () => resolve());
    send(socket, { t: "hello" });
    await hello;
    assert.equal(frames[0]?.t, "hello");
    assert.equal(frames[0]?.ping, 100, "the node tells the period");
    // A consumer with credit on an empty queue: the node long-polls for it.
    send(socket, { t: "consume", i: 1, p: "/v1/queues/jobs/receive", n: 10 });
    await new Promise((r) => setTimeout(r, 150));
    proxy.cut();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      proxy.nodeSpokeAfterCut,
      new Promise((r) => timer = setTimeout(r, 5_000)),
    ]);
    clearTimeout(timer);
    // A close frame (0x88, unmasked from a server) with code 4005, "stream silent".
    const frame = proxy.afterCut.slice(0, 4);
    // The consumer ended with the stream: what is published now is there for the next receive.
    const pub = await fetch(`${base}/v1/queues/jobs/messages`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ body: "after" }),
    });
    await pub.body?.cancel();
    const got = await fetch(`${base}/v1/queues/jobs/receive`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ max: 10, waitMs: 0 }),
    });
    const received = await got.json();
    socket.close();
    await proxy.close();
    await closed;
    await server.shutdown();
    assert.deepEqual(frame, [0x88, 2 + "stream silent".length, 4005 >> 8, 4005 & 0xff]);
    assert.equal(received.messages?.length, 1, JSON.stringify(received));
  },
});

Deno.test({
  name: "stream ?ping=1: the client pings an idle stream, so the node keeps it open",
  ...strict,
  async fn() {
    // Periods long enough that a loaded machine's late timers do not end the stream.
    const limits = { streamPingMs: 250 };
    const app = createApp({ node: new LocalNode(), log: silentLogger, limits });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
    const conn = await StreamConnection.open(`http://127.0.0.1:${server.addr.port}`);
    assert.equal(conn.hello.ping, 250);
    // Eight ping periods with nothing to send: without the pings the node gives up after three.
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal(conn.lost, false);
    const answer = await conn.request("GET", "/healthz", {});
    assert.equal(answer.status, 200);
    await answer.body?.cancel();
    await conn.close();
    await server.shutdown();
  },
});

Deno.test({
  name:
    "stream ?ping=1: the client gives up a node gone silent, and its request in flight ends StreamLost",
  ...strict,
  async fn() {
    const node = new LocalNode();
    const app = createApp({ node, log: silentLogger, limits: { streamPingMs: 50 } });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
    const base = `http://127.0.0.1:${server.addr.port}`;
    const json = { "content-type": "application/json" };
    const put = await fetch(`${base}/v1/queues/jobs`, { method: "PUT", headers: json, body: "{}" });
    await put.body?.cancel();
    const proxy = proxyTo(server.addr.port);
    const conn = await StreamConnection.open(`http://127.0.0.1:${proxy.port}`);
    proxy.cut();
    // A long poll the node would hold for 20 s: the stream is given up long before.
    const waiting = conn.request("POST", "/v1/queues/jobs/receive", {}, '{"waitMs":20000}')
      .then(() => "answered", (e) => (e as Error).name);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      waiting,
      new Promise((r) => timer = setTimeout(() => r("still waiting"), 5_000)),
    ]);
    clearTimeout(timer);
    assert.equal(outcome, "StreamLost");
    await proxy.close();
    await conn.closed;
    await server.shutdown();
  },
});
