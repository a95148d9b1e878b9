/**
 * The gateway's `mqtt` topic: created with interest retention, and an existing unbounded one (as
 * the gateway made it before) turned to it, keeping its other options; a topic an operator bounded
 * or gave a retention is left alone. Through the node's API in process, as the gateway calls it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createApp } from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { BrokerApi, MQTT_TOPIC } from "../mqtt/mod.ts";
import { gatewayFetch } from "./mqtt_fetch.ts";

const TOPIC = `/v1/topics/${MQTT_TOPIC}`;

function api(): BrokerApi {
  const node = new LocalNode({ monoNowMs: () => 1_000, wallNowMs: () => 1_700_000_000_000 });
  const app = createApp({ node, log: silentLogger });
  return new BrokerApi(
    gatewayFetch({ fetch: app.fetch, inProcess: app.inProcess, gatewayAuth: undefined }),
    undefined,
  );
}

async function options(a: BrokerApi): Promise<Record<string, unknown>> {
  const r = await a.call("GET", TOPIC);
  assert.equal(r.status, 200);
  const { name: _n, firstSeq: _f, nextSeq: _x, published: _p, subscriptions: _s, ...o } = r.body;
  const { messages: _m, bytes: _b, ...config } = o;
  return config;
}

async function publish(a: BrokerApi, n: number): Promise<void> {
  const messages = Array.from({ length: n }, (_, i) => ({ subject: `s.${i}`, body: "x" }));
  assert.equal((await a.call("POST", `${TOPIC}/messages`, { messages })).status, 201);
}

Deno.test("the gateway creates the mqtt topic with interest retention", async () => {
  const a = api();
  await a.ensureTopic(await a.call("GET", TOPIC));
  assert.deepEqual(await options(a), { dedupWindowMs: 300_000, retention: "interest" });
  await publish(a, 10); // no session subscribed: nothing kept
  assert.equal((await a.call("GET", TOPIC)).body.messages, 0);
});

Deno.test("an unbounded mqtt topic is turned to interest retention, its options kept", async () => {
  const a = api();
  const made = await a.call("PUT", TOPIC, { maxRetained: 100, dedupWindowMs: 60_000 });
  assert.equal(made.status, 201);
  await publish(a, 10);
  assert.equal((await a.call("GET", TOPIC)).body.messages, 10);
  await a.ensureTopic(await a.call("GET", TOPIC));
  assert.deepEqual(await options(a), {
    dedupWindowMs: 60_000,
    maxRetained: 100,
    retention: "interest",
  });
  assert.equal((await a.call("GET", TOPIC)).body.messages, 0);
});

Deno.test("an mqtt topic an operator bounded or gave a retention is left alone", async () => {
  for (const given of [{ maxAgeMs: 60_000 }, { maxBytes: 1 << 20 }, { retention: "limits" }]) {
    const a = api();
    assert.equal((await a.call("PUT", TOPIC, given)).status, 201);
    const before = await options(a);
    await a.ensureTopic(await a.call("GET", TOPIC));
    assert.deepEqual(await options(a), before);
  }
});
