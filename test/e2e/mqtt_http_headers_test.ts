/**
 * A message an HTTP publisher puts on the MQTT topic with `mqtt-*` headers the gateway did not
 * write (any text: the API does not check them) reaches MQTT subscribers like any HTTP message:
 * the node stays up, the delivery goes at a QoS MQTT has, and the session's deliveries go on.
 *
 * @module
 */

import assert from "node:assert/strict";
import { collect, connect, mqttNodes, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
const api = nodes.url("n1");
addEventListener("unload", () => nodes.stop());

async function httpPublish(subject: string, headers: Record<string, string>): Promise<void> {
  const res = await fetch(`${api}/v1/topics/mqtt/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ subject, body: { h: headers }, headers }),
  });
  assert.equal(res.status, 201);
  await res.body?.cancel();
}

Deno.test("an HTTP message with an mqtt-qos header MQTT has no QoS for reaches a QoS 1 and a QoS 2 subscriber, and the node stays up", async () => {
  for (const protocolVersion of [4, 5] as const) {
    const sub = await connect(port, {
      protocolVersion,
      clientId: `odd-qos-${protocolVersion}`,
      ...(protocolVersion === 5 ? { properties: { receiveMaximum: 2 } } : {}),
    });
    const got = collect(sub);
    await sub.subscribeAsync({ [`oq${protocolVersion}/one/#`]: { qos: 1 } });
    await sub.subscribeAsync({ [`oq${protocolVersion}/two/#`]: { qos: 2 } });
    const odd = ["-1", "1.5", "x", "", "3", "0x1"];
    for (const [i, q] of odd.entries()) {
      await httpPublish(`oq${protocolVersion}.one.${i}`, { "mqtt-qos": q });
      await httpPublish(`oq${protocolVersion}.two.${i}`, { "mqtt-qos": q });
    }
    // Then plain ones: the session's deliveries still go (nothing stuck in its window).
    for (let i = 0; i < 4; i++) {
      await httpPublish(`oq${protocolVersion}.one.after${i}`, {});
      await httpPublish(`oq${protocolVersion}.two.after${i}`, {});
    }
    await until(() => got.length >= 2 * odd.length + 8, `v${protocolVersion}: every delivery`);
    for (const m of got) assert.ok([0, 1, 2].includes(m.qos), `qos ${m.qos}`);
    assert.equal(got.filter((m) => m.topic.includes("after")).length, 8);
    await sub.endAsync();
  }
  const health = await fetch(`${api}/healthz`).catch(() => undefined);
  assert.ok(health !== undefined, `the node is up; its log ends: ${nodes.logs("n1").slice(-1500)}`);
  await health.body?.cancel();
});

Deno.test("a retained HTTP message with an odd mqtt-qos header reaches a new subscriber as QoS 1", async () => {
  // Its CONNECT creates the MQTT topic.
  const sub = await connect(port, { clientId: "odd-qos-retained" });
  const got = collect(sub);
  const res = await fetch(`${api}/v1/topics/mqtt/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      subject: "oqr.kept",
      body: "kept",
      headers: { "mqtt-qos": "-1", "mqtt-payload": "text" },
      retain: "set",
    }),
  });
  assert.equal(res.status, 201);
  await res.body?.cancel();
  await sub.subscribeAsync({ "oqr/#": { qos: 2 } });
  await until(() => got.length >= 1, "the retained message");
  assert.deepEqual(got, [{ topic: "oqr/kept", payload: "kept", qos: 1, dup: false, retain: true }]);
  assert.ok(sub.connected, "the subscriber is still connected");
  await sub.endAsync();
});

Deno.test("an MQTT 5 user property named like the gateway's own headers does not make a message retained", async () => {
  const pub = await connect(port, { protocolVersion: 5 });
  const sub = await connect(port, { protocolVersion: 5, clientId: "spoof-sub" });
  const got = collect(sub);
  await sub.subscribeAsync({ "spoof/#": { qos: 1, rap: true } });
  await pub.publishAsync("spoof/x", "plain", {
    qos: 1,
    properties: { userProperties: { "mqtt-retain": "1" } },
  });
  await until(() => got.length >= 1, "the message");
  assert.equal(got[0].retain, false, "delivered as retained (retain as published)");
  // Nor is it kept as the topic's retained message.
  const late = await connect(port, { protocolVersion: 5, clientId: "spoof-late" });
  const lateGot = collect(late);
  await late.subscribeAsync({ "spoof/#": { qos: 1 } });
  await pub.publishAsync("spoof/end", "end", { qos: 1 });
  await until(() => lateGot.length >= 1, "the later message");
  assert.deepEqual(lateGot.map((m) => m.payload), ["end"]);
  await Promise.all([pub.endAsync(), sub.endAsync(), late.endAsync()]);
});
