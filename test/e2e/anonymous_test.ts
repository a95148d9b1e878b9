/**
 * Safe defaults with real processes: a cluster started without `--auth-file` and without
 * `--allow-anonymous` answers reads but refuses anonymous writes, admin, `/metrics` and MQTT
 * clients, each refusal naming the flag to add; with `--metrics-public`, `/metrics` is served.
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt";
import { mqttNodes } from "./mqtt_client.ts";

async function answer(url: string, method: string, body?: unknown) {
  const res = await fetch(url, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
  });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get("content-type") ?? "",
    // deno-lint-ignore no-explicit-any
    body: (text === "" ? undefined : JSON.parse(text)) as any,
  };
}

Deno.test("e2e safe defaults: a cluster without --auth-file or --allow-anonymous is read-only to anonymous callers", async () => {
  const { nodes, mqttPort } = await mqttNodes({
    count: 3,
    storage: "memory",
    allowAnonymous: false,
    extraArgs: ["--metrics-public"],
  });
  try {
    const leader = await nodes.waitLeader();
    const follower = nodes.ids.find((id) => id !== leader)!;
    for (const id of [leader, follower]) {
      const base = nodes.url(id);
      for (
        const [method, path, body] of [
          ["PUT", "/v1/queues/q", {}],
          ["POST", "/v1/queues/q/messages", { body: 1 }],
          ["POST", "/v1/sessions", {}],
          ["GET", "/v1/cluster", undefined],
          ["POST", "/v1/cluster/members", { id: "n9", url: "http://127.0.0.1:9" }],
          ["POST", "/v1/cluster/leadership-transfer", {}],
        ] as const
      ) {
        const a = await answer(`${base}${path}`, method, body);
        assert.equal(a.status, 403, `${id} ${method} ${path}: ${JSON.stringify(a.body)}`);
        assert.match(a.type, /application\/problem\+json/);
        assert.equal(a.body.type, "anonymous_refused");
        assert.match(a.body.detail, /--auth-file <file\.json>/);
        assert.match(a.body.detail, /--allow-anonymous/);
        assert.match(a.body.detail, /--peers/);
      }
      assert.equal((await answer(`${base}/v1/queues`, "GET")).status, 200);
      assert.equal((await answer(`${base}/healthz`, "GET")).status, 200);
      // --metrics-public: served without a token.
      const metrics = await fetch(`${base}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /quorumq_raft_term/);
    }
    // MQTT has no token to check without an auth file: CONNACK not authorized (v5 0x87).
    const refused = await new Promise<{ code: unknown }>((resolve) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${mqttPort(leader)}`, {
        protocolVersion: 5,
        reconnectPeriod: 0,
      });
      c.once("error", (e) => {
        c.end(true);
        resolve({ code: (e as { code?: unknown }).code });
      });
    });
    assert.equal(refused.code, 0x87);
  } finally {
    await nodes.stop();
  }
});

Deno.test("e2e safe defaults: one node on loopback (the quickstart) stays open; /metrics too", async () => {
  const { nodes } = await mqttNodes({ count: 1, storage: "memory", allowAnonymous: false });
  try {
    const base = nodes.url("n1");
    assert.equal((await answer(`${base}/v1/queues/q`, "PUT", {})).status, 201);
    assert.equal((await answer(`${base}/v1/queues/q/messages`, "POST", { body: 1 })).status, 201);
    assert.equal((await answer(`${base}/v1/cluster`, "GET")).status, 200);
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    await metrics.body?.cancel();
  } finally {
    await nodes.stop();
  }
});
