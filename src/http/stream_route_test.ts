import assert from "node:assert/strict";
import { createApp } from "./app.ts";
import { originAllowed, STREAM_PATH } from "./stream_route.ts";
import { LocalNode } from "./testing/local_node.ts";
import { silentLogger } from "../log.ts";

const upgrade = (origin?: string) =>
  new Request(`http://127.0.0.1:8080${STREAM_PATH}`, {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
      ...(origin ? { origin } : {}),
    },
  });

Deno.test("a page of another origin may not open the stream (WebSockets are outside CORS)", async () => {
  for (const corsOrigins of [undefined, ["https://app.example"]]) {
    const app = createApp({ node: new LocalNode(), log: silentLogger, corsOrigins });
    const res = await app.fetch(upgrade("https://evil.example"));
    assert.equal(res.status, 403);
    const problem = await res.json();
    assert.equal(problem.type, "forbidden");
    assert.match(problem.detail, /evil\.example/);
  }
});

Deno.test("the stream admits the node's own origin, --cors-origin ones, and clients without Origin", () => {
  const url = `http://127.0.0.1:8080${STREAM_PATH}`;
  assert.ok(originAllowed("http://127.0.0.1:8080", url, []));
  assert.ok(originAllowed("https://app.example", url, ["https://app.example"]));
  assert.ok(originAllowed("https://any.example", url, ["*"]));
  assert.ok(!originAllowed("https://app.example", url, []));
  assert.ok(!originAllowed("http://127.0.0.1:8081", url, ["https://app.example"]));
  assert.ok(!originAllowed("null", url, ["https://app.example"]));
});
