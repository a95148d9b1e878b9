/**
 * The gateway's upstream gathering the calls of one turn (`gather`): with calls in flight, calls
 * wait for the runtime's turn to end and then leave in one message; with none, a call goes at
 * once. The turn is a promise the test releases, so nothing here depends on timing.
 */
import assert from "node:assert/strict";
import { createApp } from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { silentLogger } from "../log.ts";
import type { StreamSocket } from "../client/mod.ts";
import { createGateway, Upstream } from "./mod.ts";

const json = { "content-type": "application/json" };

Deno.test({
  name: "edge upstream: calls that find others in flight leave together after the turn",
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const node = new LocalNode();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      createApp({ node, log: silentLogger }).fetch,
    );
    const sent: number[] = [];
    let release: () => void = () => {};
    let turns = 0;
    const upstream = new Upstream({
      urls: [`http://127.0.0.1:${server.addr.port}`],
      followLeader: false,
      dial: (url) => {
        const ws = new WebSocket(url);
        const send = ws.send.bind(ws);
        ws.send = (data: Uint8Array) => {
          sent.push(data.byteLength);
          send(data);
        };
        return ws as unknown as StreamSocket;
      },
      gather: () => {
        turns++;
        return new Promise<void>((resolve) => release = resolve);
      },
    });
    const gateway = createGateway({ upstream });
    const call = (method: string, path: string, body?: string, signal?: AbortSignal) =>
      gateway.fetch(
        new Request(`http://gw${path}`, {
          method,
          headers: json,
          ...(body !== undefined ? { body } : {}),
          ...(signal ? { signal } : {}),
        }),
      );
    const poll = new AbortController();
    try {
      // Nothing in flight: the call goes at once (no turn waited for).
      const put = await call("PUT", "/v1/queues/q", "{}");
      assert.equal(put.status, 201);
      await put.body?.cancel();
      assert.equal(turns, 0);
      // A long poll stays in flight; calls arriving now wait for the turn.
      const waiting = call("POST", "/v1/queues/q/receive", '{"waitMs":60000}', poll.signal);
      const stream = await upstream.connection();
      // Bounded: the poll is sent within a few hops of the event loop.
      for (let n = 0; n < 100 && stream.inFlight === 0; n++) {
        await new Promise((r) => setTimeout(r, 1));
      }
      assert.equal(stream.inFlight, 1);
      assert.equal(turns, 0);
      const before = sent.length;
      const publishes = Array.from(
        { length: 5 },
        (_, n) => call("POST", "/v1/queues/q/messages", JSON.stringify({ body: n })),
      );
      // Bounded: the calls reach the turn within a few hops of the event loop.
      for (let n = 0; n < 100 && turns === 0; n++) await new Promise((r) => setTimeout(r, 1));
      assert.equal(turns, 1, "one turn for all five");
      assert.equal(stream.inFlight, 1, "the five wait for the turn");
      assert.equal(sent.length, before, "nothing sent before the turn ends");
      release();
      const answers = await Promise.all(publishes);
      for (const a of answers) {
        assert.equal(a.status, 201);
        await a.body?.cancel();
      }
      assert.equal(sent.length, before + 1, "the five in one message");
      poll.abort();
      await Promise.resolve(waiting).then((r) => r.body?.cancel(), () => {});
    } finally {
      await upstream.close();
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "edge upstream: stop() while a stream is opening closes that stream too; the call gets NoUpstream",
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const node = new LocalNode();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      createApp({ node, log: silentLogger }).fetch,
    );
    const opened: WebSocket[] = [];
    const upstream = new Upstream({
      urls: [`http://127.0.0.1:${server.addr.port}`],
      followLeader: false,
      dial: (url) => {
        const ws = new WebSocket(url);
        opened.push(ws);
        return ws as unknown as StreamSocket;
      },
    });
    // The gateway stops while its first call is still opening the stream.
    const opening = upstream.connection().then(() => "opened", (e) => (e as Error).name);
    await upstream.stop();
    const outcome = await opening;
    // Bounded: a socket left open by the old code is closed here, after the check.
    const states = await Promise.all(opened.map(async (ws) => {
      for (let i = 0; i < 100 && ws.readyState !== WebSocket.CLOSED; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const state = ws.readyState;
      if (state !== WebSocket.CLOSED) {
        ws.close();
        await new Promise((r) => ws.addEventListener("close", r));
      }
      return state;
    }));
    await server.shutdown();
    assert.equal(outcome, "NoUpstream");
    assert.deepEqual(states, opened.map(() => WebSocket.CLOSED));
    assert.ok(opened.length >= 1);
  },
});
