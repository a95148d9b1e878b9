/**
 * A stream bounds what one client keeps running on the node: its requests in flight, and its
 * push consumers (each one a loop of long-poll receives while it has credit) with them.
 */
import assert from "node:assert/strict";
import { createApp } from "./mod.ts";
import { LocalNode } from "./testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { StreamConnection } from "../client/mod.ts";

/** The stream's bound (`MAX_IN_FLIGHT` in stream.ts). */
const BOUND = 4096;

Deno.test("a stream opens at most 4096 push consumers; more are answered unavailable at once", async () => {
  const app = createApp({ node: new LocalNode(), log: silentLogger });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const base = `http://127.0.0.1:${server.addr.port}`;
  const put = await fetch(`${base}/v1/queues/jobs`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  await put.body?.cancel();
  const conn = await StreamConnection.open(base);
  try {
    // No credit: each waits on the node for a credit frame.
    const consumers = Array.from(
      { length: BOUND + 10 },
      () => conn.consume("/v1/queues/jobs/receive", {}, 0, () => {}),
    );
    for (const c of consumers) c.done.catch(() => {}); // lost with the stream if the test fails
    let timer: ReturnType<typeof setTimeout> | undefined;
    const refused = await Promise.race([
      Promise.all(consumers.slice(BOUND).map((c) => c.done.then((r) => r.status))),
      new Promise((r) => timer = setTimeout(() => r("the extra consumers are still open"), 10_000)),
    ]);
    clearTimeout(timer);
    assert.deepEqual(refused, Array(10).fill(503));
    for (const c of consumers.slice(0, BOUND)) c.cancel();
    const ended = await Promise.all(consumers.slice(0, BOUND).map((c) => c.done));
    assert.ok(ended.every((r) => r.status === 204));
  } finally {
    await conn.close();
    await server.shutdown();
  }
});
