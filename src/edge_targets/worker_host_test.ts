/**
 * The Worker's isolate stream in `workerd` (`worker_host.ts`), against an in-process node: calls
 * handed to the request that hosts the stream, hosts taking over from each other every 50 ms
 * (a deployed Worker: every 20 s) while 32 callers publish, every call answered by the node, and
 * each write applied once.
 */
import assert from "node:assert/strict";
import { createApp } from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { startEdge } from "./run.ts";

Deno.test("worker host: calls ride hosts that take over from each other", async () => {
  const node = new LocalNode();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    createApp({ node, log: silentLogger }).fetch,
  );
  const nodeUrl = `http://127.0.0.1:${server.addr.port}`;
  const edge = await startEdge({
    runtime: "workerd",
    upstream: [nodeUrl],
    listen: "127.0.0.1:0",
    hostMs: 50,
  });
  try {
    const put = await fetch(`${edge.url}/v1/queues/q`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(put.status, 201, await put.text());
    const statuses = new Map<number, number>();
    const started = Date.now();
    let next = 0;
    await Promise.all(Array.from({ length: 32 }, async () => {
      // Bounded: 600 publishes in all, and 30 s.
      while (next < 600 && Date.now() - started < 30_000) {
        const n = next++;
        const res = await fetch(`${edge.url}/v1/queues/q/messages`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ id: `m${n}`, body: `${n}` }),
        });
        await res.body?.cancel();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        // Now and then a pause past the host's time, so that the next call finds it retired.
        if (n % 100 === 0) await new Promise((r) => setTimeout(r, 60));
      }
    }));
    assert.deepEqual([...statuses], [[201, 600]]);
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
    await server.shutdown();
  }
});
