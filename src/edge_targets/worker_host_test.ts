/**
 * The Worker's isolate stream in `workerd` (`worker_host.ts`), against an in-process node: calls
 * handed to the request that hosts the stream, hosts taking over from each other every 50 ms
 * (a deployed Worker: every 20 s) while 32 callers publish, every call answered by the node, and
 * each write applied once; and the same once V8 has optimized the hand-off (a promise made in
 * optimized code carried no request tag: every answer 500 after that, `crossRequestPromise`).
 */
import assert from "node:assert/strict";
import { createApp } from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { type RunningEdge, startEdge } from "./run.ts";

/** A node in process and a Worker in `workerd` with the isolate host in front of it. */
async function start(hostMs: number, v8Flags?: string[]) {
  const node = new LocalNode();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    createApp({ node, log: silentLogger }).fetch,
  );
  const nodeUrl = `http://127.0.0.1:${server.addr.port}`;
  let edge: RunningEdge;
  try {
    edge = await startEdge({
      runtime: "workerd",
      upstream: [nodeUrl],
      listen: "127.0.0.1:0",
      hostMs,
      ...(v8Flags !== undefined ? { v8Flags } : {}),
    });
  } catch (error) {
    await server.shutdown();
    throw error;
  }
  const put = await fetch(`${edge.url}/v1/queues/q`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  assert.equal(put.status, 201, await put.text());
  const stop = async () => {
    await edge.stop();
    await server.shutdown();
  };
  return { url: edge.url, stop };
}

/**
 * `count` publishes with ids `m0...` by 32 callers; the answers' statuses and their counts. Every
 * 100th caller pauses `pauseMs` after its call (past a host's time, the next call finds it retired).
 */
async function publishAll(url: string, count: number, pauseMs: number) {
  const statuses = new Map<number, number>();
  const started = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    // Bounded: `count` publishes in all, and 60 s.
    while (next < count && Date.now() - started < 60_000) {
      const n = next++;
      const res = await fetch(`${url}/v1/queues/q/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: `m${n}`, body: `${n}` }),
      });
      await res.body?.cancel();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (pauseMs > 0 && n % 100 === 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  }));
  return [...statuses];
}

Deno.test("worker host: calls ride hosts that take over from each other", async () => {
  const edge = await start(50);
  try {
    assert.deepEqual(await publishAll(edge.url, 600, 60), [[201, 600]]);
    const info = await (await fetch(`${edge.url}/v1/queues/q`)).json();
    assert.equal(info.published, 600);
    assert.equal(info.ready, 600);
    // A retry of a write applied before applies once (through whichever host takes it).
    const again = await fetch(`${edge.url}/v1/queues/q/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: "m7", body: "7" }),
    });
    await again.body?.cancel();
    assert.equal(again.status, 200);
    const after = await (await fetch(`${edge.url}/v1/queues/q`)).json();
    assert.equal(after.ready, 600);
  } finally {
    await edge.stop();
  }
});

Deno.test("worker host: answers stay each request's own once V8 optimizes the hand-off", async () => {
  // V8 optimizes a function with TurboFan after a few calls instead of thousands, so that the
  // hand-off runs optimized within this test's calls (in a Worker taking 64 callers, after
  // ~17,000 calls; every answer was 500 from there on).
  const edge = await start(20_000, [
    "--invocation-count-for-maglev=1",
    "--invocation-count-for-turbofan=2",
  ]);
  try {
    assert.deepEqual(await publishAll(edge.url, 2000, 0), [[201, 2000]]);
    const info = await (await fetch(`${edge.url}/v1/queues/q`)).json();
    assert.equal(info.ready, 2000);
  } finally {
    await edge.stop();
  }
});
