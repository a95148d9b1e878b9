import assert from "node:assert/strict";
import { createApp } from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { createUi, EventRing } from "./mod.ts";

/** The `data:` payloads of an SSE body, one at a time. */
async function* events(body: ReadableStream<Uint8Array>): AsyncGenerator<Record<string, unknown>> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    for (let reads = 0; reads < 10_000; reads++) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      for (let end = buf.indexOf("\n\n"); end >= 0; end = buf.indexOf("\n\n")) {
        const data = buf.slice(0, end).split("\n").find((l) => l.startsWith("data:"));
        buf = buf.slice(end + 2);
        if (data !== undefined) yield JSON.parse(data.slice(5));
      }
    }
  } finally {
    await reader.cancel();
  }
}

Deno.test("ui live: ?nodes=1 sends every node row, and another member's numbers move", async () => {
  // n2 is a member reached over HTTP, as the cluster page reaches it.
  const n2 = new LocalNode({ nodeId: "n2" });
  const api2 = createApp({ node: n2, log: silentLogger });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, api2.fetch);
  try {
    const url = `http://127.0.0.1:${server.addr.port}`;
    const n1 = new LocalNode({ peers: [{ id: "n2", url, role: "follower", matchIndex: 0 }] });
    const api = createApp({ node: n1, log: silentLogger });
    const ui = createUi({ node: n1, api: api.fetch, events: new EventRing(), liveIntervalMs: 10 });
    const page = await (await ui.fetch(new Request("http://node.test/ui/cluster"))).text();
    assert.match(page, /data-live="nodes"/);
    assert.match(page, /<tr data-node="n2"/);

    const plain = await ui.fetch(new Request("http://node.test/ui/live"));
    const first = (await events(plain.body!).next()).value;
    assert.equal(first?.nodes, undefined);

    const res = await ui.fetch(new Request("http://node.test/ui/live?nodes=1"));
    let start: number | undefined;
    let moved = false;
    for await (const s of events(res.body!)) {
      const nodes = s.nodes as { id: string; role: string; appliedIndex?: number }[];
      assert.deepEqual(nodes.map((n) => n.id), ["n1", "n2"]);
      assert.equal(nodes[0].role, "leader");
      const applied = nodes[1].appliedIndex;
      assert.equal(typeof applied, "number");
      if (start === undefined) {
        start = applied!;
        const put = await api2.fetch(new Request(`${url}/v1/queues/q`, { method: "PUT" }));
        assert.equal(put.status, 201);
      } else if (applied! > start) {
        moved = true;
        break;
      }
    }
    assert.ok(moved, "n2's applied index moved in the stream");
  } finally {
    await server.shutdown();
  }
});
