/**
 * Keep-alive (MQTT 3.1.2.10): a client silent for more than 1.5 × its keep-alive is disconnected
 * (v5: DISCONNECT 0x8D) and its will published; one that pings stays. Real MQTT.js clients: the
 * silent one is MQTT.js with a keep-alive timer that never fires (its `timerVariant`), so it sends
 * no PINGREQ. Each time below is a lower bound (a client cannot be disconnected before its limit
 * has passed since it sent CONNECT); none times the server.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { IDisconnectPacket } from "mqtt-packet";
import { collect, connect, mqttNodes, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
addEventListener("unload", () => nodes.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** MQTT.js's keep-alive timer, never firing: the client sends no PINGREQ. */
const NO_PINGS = { set: () => 0, clear: () => {} };

for (const protocolVersion of [4, 5] as const) {
  Deno.test(`v${protocolVersion}: a client silent past 1.5 × keep-alive is disconnected and its will published`, async () => {
    const watcher = await connect(port, {
      protocolVersion,
      clientId: `ka-watch-${protocolVersion}`,
    });
    const got = collect(watcher);
    await watcher.subscribeAsync({ "ka/+/status": { qos: 1 } });
    const topic = `ka/${protocolVersion}/status`;
    const sentAt = Date.now();
    const silent = await connect(port, {
      protocolVersion,
      clientId: `ka-silent-${protocolVersion}`,
      keepalive: 2,
      timerVariant: NO_PINGS,
      will: { topic, payload: "gone", qos: 1, retain: false },
    });
    const reasons: number[] = [];
    silent.on("disconnect", (p: IDisconnectPacket) => reasons.push(p.reasonCode ?? 0));
    let closedAt = 0;
    silent.on("close", () => closedAt ||= Date.now());
    await until(() => closedAt > 0, "the silent client disconnected");
    assert.ok(closedAt - sentAt >= 3_000, `disconnected after ${closedAt - sentAt} ms`);
    assert.deepEqual(reasons, protocolVersion === 5 ? [0x8d] : []);
    await until(() => got.some((m) => m.topic === topic), "the will");
    assert.deepEqual(got.map((m) => [m.topic, m.payload]), [[topic, "gone"]]);
    silent.end(true);
    await watcher.endAsync();
  });
}

Deno.test("a client that pings within its keep-alive stays connected, its will unpublished", async () => {
  const watcher = await connect(port, { protocolVersion: 5, clientId: "ka-watch-ping" });
  const got = collect(watcher);
  await watcher.subscribeAsync({ "kp/status": { qos: 1 } });
  const pinger = await connect(port, {
    protocolVersion: 5,
    clientId: "ka-pinger",
    keepalive: 2, // MQTT.js pings after 2 s without a packet: the server's limit is 3 s
    will: { topic: "kp/status", payload: "gone", qos: 1, retain: false },
  });
  let closed = false;
  pinger.on("close", () => closed = true);
  await sleep(8_000); // more than twice the limit, with nothing sent but PINGREQs
  assert.equal(closed, false);
  assert.ok(pinger.connected);
  await pinger.endAsync(); // a normal DISCONNECT: no will
  await watcher.publishAsync("kp/status", "marker", { qos: 1 });
  await until(() => got.length > 0, "the marker");
  assert.deepEqual(got.map((m) => m.payload), ["marker"]);
  await watcher.endAsync();
});
