/**
 * The MQTT gateway's requests on the direct path (`NodeApp.inProcess`) against the same requests
 * through the app as in-process `Request`s: good and bad publishes (a bad subject, a denied
 * topic, a body over the limit, no topic), a subscription's receive and acks, each as a
 * connection's principal (auth on) and with auth off, must get the same status and body, and be
 * counted under the same routes and statuses. The path cannot drift from the app's rules.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createApp, loadAuthenticator, type Principal } from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { silentLogger } from "../log.ts";
import {
  BrokerApi,
  jsonBytesAtMost,
  MQTT_TOPIC,
  mqttGatewayAuth,
  readBatchAnswer,
  SizedBody,
} from "../mqtt/mod.ts";
import { gatewayFetch } from "./mqtt_fetch.ts";

const ADMIN = "admin-token-1";
const LIMITED = "limited-token-1";
const TOPIC = `/v1/topics/${MQTT_TOPIC}`;
const SUB = `${TOPIC}/subscriptions/s`;
/** A topic that keeps one retained message at most. */
const RETAINED = "/v1/topics/r1";

interface Case {
  readonly name: string;
  readonly path: string;
  readonly body: unknown;
  /** Run as the limited token's principal. */
  readonly limited?: boolean;
  /** Headers of the call (the gateway's own are added by `BrokerApi`). */
  readonly headers?: Record<string, string>;
}

const message = (subject: string, qos: number, extra: Record<string, unknown> = {}) => ({
  subject,
  body: "aGk=",
  headers: { "mqtt-payload": "base64", "mqtt-qos": String(qos) },
  ...extra,
});

const CASES: readonly Case[] = [
  { name: "publish", path: `${TOPIC}/messages`, body: { messages: [message("a.b", 1)] } },
  {
    name: "publish batch",
    path: `${TOPIC}/messages`,
    body: { messages: [message("a.b", 0), message("a.c", 1, { ttlMs: 5000, retain: "set" })] },
  },
  { name: "bad subject", path: `${TOPIC}/messages`, body: { messages: [message("a.*", 1)] } },
  {
    name: "bad header",
    path: `${TOPIC}/messages`,
    body: { messages: [{ ...message("a.b", 1), headers: { "mqtt-qos": 1 } }] },
  },
  {
    name: "once without a claim",
    path: `${TOPIC}/messages`,
    body: { messages: [message("a.b", 2, { once: { claim: "nobody", slot: 3 } })] },
  },
  {
    name: "within the limit, its bound beyond it",
    path: `${TOPIC}/messages`,
    body: { messages: [message("a.b", 1, { body: "x".repeat(1000) })] },
  },
  {
    name: "too large",
    path: `${TOPIC}/messages`,
    body: { messages: [message("a.b", 1, { body: "x".repeat(5000) })] },
  },
  {
    name: "denied",
    path: `${TOPIC}/messages`,
    body: { messages: [message("a.b", 1)] },
    limited: true,
  },
  { name: "no topic", path: "/v1/topics/nope/messages", body: { messages: [message("a.b", 1)] } },
  {
    name: "one of a batch refused (retained_full), the other published",
    path: `${RETAINED}/messages`,
    body: {
      messages: [message("a.b", 1, { retain: "set" }), message("a.c", 1, { retain: "set" })],
    },
  },
  { name: "receive", path: `${SUB}/receive`, body: { max: 10 } },
  { name: "receive bad max", path: `${SUB}/receive`, body: { max: 0 } },
  { name: "receive denied", path: `${SUB}/receive`, body: { max: 1 }, limited: true },
  { name: "ack stale", path: `${SUB}/ack`, body: { receipts: ["r-1"] } },
  { name: "ack none", path: `${SUB}/ack`, body: { receipts: [] } },
  { name: "nack no sub", path: `${TOPIC}/subscriptions/nope/nack`, body: { receipts: ["r"] } },
  {
    name: "keyed",
    path: `${TOPIC}/messages`,
    body: { messages: [message("a.k", 1)] },
    headers: { "idempotency-key": "k1" },
  },
  {
    name: "keyed replay",
    path: `${TOPIC}/messages`,
    body: { messages: [message("a.k", 1)] },
    headers: { "idempotency-key": "k1" },
  },
  {
    name: "padded key (through the app both ways)",
    path: `${TOPIC}/messages`,
    body: { messages: [message("a.k", 1)] },
    headers: { "idempotency-key": " k2 " },
  },
];

/** A node with the MQTT topic and a subscription; its gateway's fetch direct or app-only. */
async function gatewayNode(direct: boolean, authOn: boolean) {
  const auth = await loadAuthenticator(JSON.stringify({
    tokens: [
      { name: "admin", token: ADMIN, admin: ["*"], publish: ["*"], consume: ["*"] },
      { name: "limited", token: LIMITED, publish: ["topic:other"], consume: [] },
    ],
  }));
  // A still clock: both nodes stamp the same times, so their answers are equal to the byte.
  const node = new LocalNode({ monoNowMs: () => 1_000, wallNowMs: () => 1_700_000_000_000 });
  const gatewayAuth = authOn ? mqttGatewayAuth(auth, "secret") : undefined;
  const app = createApp({
    node,
    log: silentLogger,
    limits: { maxBodyBytes: 4096 },
    ...(authOn ? { auth, gatewayAuth: gatewayAuth! } : {}),
  });
  const fetch = gatewayFetch({
    fetch: app.fetch,
    inProcess: direct ? app.inProcess : undefined,
    gatewayAuth,
  });
  const principal = async (token: string): Promise<Principal> =>
    (await auth.authenticate(`Bearer ${token}`))!;
  const apiOf = async (token: string) =>
    new BrokerApi(
      fetch,
      authOn ? { principal: await principal(token), authorization: `Bearer ${token}` } : undefined,
    );
  const admin = await apiOf(ADMIN);
  for (const path of [TOPIC, SUB, RETAINED]) {
    const options = path === SUB
      ? { startAt: "earliest" }
      : path === RETAINED
      ? { maxRetained: 1 }
      : {};
    const a = await admin.call("PUT", path, options);
    assert.equal(a.status, 201, JSON.stringify(a.body));
  }
  const metrics = async () => {
    const res = await app.fetch(
      new Request("http://node/metrics", { headers: { authorization: `Bearer ${ADMIN}` } }),
    );
    return (await res.text()).split("\n")
      .filter((l) => l.startsWith("quorumq_http_requests_total{") && l.includes('"POST"'))
      .sort();
  };
  return { admin, limited: await apiOf(LIMITED), metrics };
}

for (const authOn of [true, false]) {
  Deno.test(`the gateway's direct calls answer what the app answers (auth ${authOn ? "on" : "off"})`, async () => {
    const viaApp = await gatewayNode(false, authOn);
    const direct = await gatewayNode(true, authOn);
    // Bodies handed over as values (`SizedBody`, as the gateway's batch publishes go).
    const values = await gatewayNode(true, authOn);
    for (const c of CASES) {
      const limited = c.limited === true && authOn;
      const answer = (n: typeof viaApp, body: unknown) =>
        (limited ? n.limited : n.admin).call("POST", c.path, body, c.headers);
      const want = await answer(viaApp, c.body);
      assert.deepEqual(await answer(direct, c.body), want, c.name);
      const sized = new SizedBody(c.body, jsonBytesAtMost(c.body));
      assert.deepEqual(await answer(values, sized), want, `${c.name} (a value)`);
    }
    // As the gateway reads a batch publish's answer (`readBatchAnswer`): through the app from its
    // text, on the direct path from the API's count where it gives one; the same either way.
    for (const c of CASES.filter((c) => c.path.endsWith("/messages") && c.headers === undefined)) {
      const limited = c.limited === true && authOn;
      const read = (n: typeof viaApp, body: unknown) =>
        (limited ? n.limited : n.admin).call("POST", c.path, body, {}, undefined, readBatchAnswer);
      const want = await read(viaApp, c.body);
      const sized = new SizedBody(c.body, jsonBytesAtMost(c.body));
      assert.deepEqual(await read(direct, c.body), want, `${c.name} (read for its count)`);
      assert.deepEqual(await read(values, sized), want, `${c.name} (a value read for its count)`);
      if (c.path.startsWith(RETAINED)) {
        assert.equal(want.body.results[1].error.type, "retained_full", JSON.stringify(want));
      }
      if (want.status === 201 && c.name.startsWith("publish")) {
        assert.deepEqual(want.body, { published: (c.body as { messages: [] }).messages.length });
      }
    }
    const counted = await viaApp.metrics();
    assert.ok(counted.length >= 4, counted.join("\n"));
    assert.deepEqual(await direct.metrics(), counted);
    assert.deepEqual(await values.metrics(), counted);
  });
}
