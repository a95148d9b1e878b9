/**
 * In-process answers (`jsonAnswer` for a request `isInProcess`) carry no body, only the text
 * beside them: these check that every in-process caller still gets the text, also where a
 * middleware would rebuild an answer from its body (CORS), and that an OPTIONS preflight sent
 * over the stream is still CORS's.
 */
import assert from "node:assert/strict";
import { createApp } from "./mod.ts";
import { answerTextOf, inProcessRequest, isInProcess } from "./in_process.ts";
import { LocalNode } from "./testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { StreamConnection } from "../client/mod.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };

for (const corsOrigins of [undefined, ["*"], ["https://app.example"]]) {
  Deno.test({
    name: `stream writes answer their JSON (CORS ${JSON.stringify(corsOrigins ?? "off")})`,
    ...strict,
    async fn() {
      const app = createApp({ node: new LocalNode(), log: silentLogger, corsOrigins });
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
      const stream = await StreamConnection.open(`http://127.0.0.1:${server.addr.port}`);
      try {
        const created = await stream.request("PUT", "/v1/queues/q", {}, "{}");
        assert.equal(created.status, 201);
        assert.equal((await created.json()).name, "q");
        const first = await stream.request(
          "POST",
          "/v1/queues/q/messages",
          { "idempotency-key": "k1" },
          '{"body":{"a":1},"id":"m1"}',
        );
        assert.equal(first.status, 201);
        assert.equal(first.headers.get("idempotent-replayed"), null);
        const published = await first.json();
        assert.equal(published.id, "m1");
        const again = await stream.request(
          "POST",
          "/v1/queues/q/messages",
          { "idempotency-key": "k1" },
          '{"body":{"a":1},"id":"m1"}',
        );
        assert.equal(again.status, 201);
        assert.equal(again.headers.get("idempotent-replayed"), "true");
        assert.deepEqual(await again.json(), published);
        const batch = await stream.request(
          "POST",
          "/v1/queues/q/messages",
          {},
          '{"messages":[{"body":1},{"body":2}]}',
        );
        assert.equal((await batch.json()).results.length, 2);
        // A preflight over the stream is CORS's answer when CORS is on (405 from the app if not).
        const preflight = await stream.request("OPTIONS", "/v1/queues/q", {});
        assert.equal(preflight.status, corsOrigins === undefined ? 405 : 204);
        await preflight.body?.cancel();
      } finally {
        await stream.close();
        await server.shutdown();
      }
    },
  });
}

Deno.test("an in-process write's answer has no body; its text is read back (the MQTT gateway's way)", async () => {
  const app = createApp({ node: new LocalNode(), log: silentLogger, corsOrigins: ["*"] });
  const put = inProcessRequest(
    "http://mqtt.gateway/v1/queues/q",
    { method: "PUT", headers: new Headers({ "content-type": "application/json" }) },
    "{}",
  );
  assert.ok(isInProcess(put));
  const res = await app.fetch(put);
  assert.equal(res.status, 201);
  assert.equal(res.body, null);
  assert.equal(JSON.parse(await answerTextOf(res)).name, "q");
  // Over HTTP the same write answers with its body.
  const http = await app.fetch(
    new Request("http://node/v1/queues/q/messages", {
      method: "POST",
      headers: { "content-type": "application/json", origin: "https://app.example" },
      body: '{"body":1}',
    }),
  );
  assert.ok(!isInProcess(new Request("http://node/")));
  assert.equal(http.status, 201);
  assert.equal(http.headers.get("access-control-allow-origin"), "*");
  assert.equal(typeof (await http.json()).seq, "number");
});
