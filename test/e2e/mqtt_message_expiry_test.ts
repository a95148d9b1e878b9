/**
 * MQTT 5 Message Expiry Interval on delivery (3.3.2.3.3): "The PUBLISH packet sent to a Client by
 * the Server MUST contain a Message Expiry Interval set to the received value minus the time that
 * the Application Message has been waiting in the Server." The gateway sent none: a v5
 * subscriber never learnt that a message expires (a bridge forwarding it kept it for good). The
 * waits below are lower bounds on the time a message waited, so each assertion holds on a slow
 * box too; none times the server.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { MqttClient } from "mqtt";
import type { IPublishPacket } from "mqtt-packet";
import { connect, connectAck, mqttNodes, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
addEventListener("unload", () => nodes.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The PUBLISH packets `client` receives. */
function packets(client: MqttClient): IPublishPacket[] {
  const got: IPublishPacket[] = [];
  client.on("message", (_topic, _payload, packet) => got.push(packet));
  return got;
}

Deno.test("MQTT 5: a delivery carries the message expiry left; a message without one has none", async () => {
  const sub = await connect(port, { protocolVersion: 5, clientId: "me-sub" });
  const got = packets(sub);
  await sub.subscribeAsync({ "me/#": { qos: 1 } });
  const pub = await connect(port, { protocolVersion: 5, clientId: "me-pub" });
  await pub.publishAsync("me/a", "a", { qos: 1, properties: { messageExpiryInterval: 60 } });
  await pub.publishAsync("me/b", "b", { qos: 0 });
  await until(() => got.length >= 2, "both messages");
  const a = got.find((p) => p.topic === "me/a")!;
  const left = a.properties?.messageExpiryInterval;
  assert.ok(left !== undefined && left >= 1 && left <= 60, `expiry left ${left}`);
  assert.equal(got.find((p) => p.topic === "me/b")!.properties?.messageExpiryInterval, undefined);
  await Promise.all([sub.endAsync(), pub.endAsync()]);
});

Deno.test("MQTT 5: a queued message is sent with its expiry less the time it waited; an expired one is not sent", async () => {
  const opts = {
    protocolVersion: 5 as const,
    clientId: "me-offline",
    clean: false,
    properties: { sessionExpiryInterval: 300 },
  };
  const first = await connect(port, opts);
  await first.subscribeAsync({ "mq/#": { qos: 1 } });
  await first.endAsync();
  const pub = await connect(port, { protocolVersion: 5, clientId: "me-pub2" });
  await pub.publishAsync("mq/short", "s", { qos: 1, properties: { messageExpiryInterval: 1 } });
  await pub.publishAsync("mq/long", "l", { qos: 1, properties: { messageExpiryInterval: 30 } });
  await sleep(2_100); // both waited at least 2.1 s: the first expired, the second has < 28.9 s
  await pub.publishAsync("mq/last", "x", { qos: 1 });
  const again = await connectAck(port, { ...opts, clean: false });
  // From the first packet on: the queued messages may come in the CONNACK's read.
  const got = again.packets;
  await until(() => got.some((p) => p.topic === "mq/last"), "the last message");
  assert.deepEqual(got.map((p) => p.topic), ["mq/long", "mq/last"]);
  const left = got[0].properties?.messageExpiryInterval;
  assert.ok(left !== undefined && left >= 1 && left <= 28, `expiry left ${left}`);
  await Promise.all([again.client.endAsync(), pub.endAsync()]);
});

Deno.test("MQTT 5: a retained message is sent at SUBSCRIBE with its expiry less the time it was retained", async () => {
  const pub = await connect(port, { protocolVersion: 5, clientId: "me-rpub" });
  await pub.publishAsync("mr/t", "r", {
    qos: 1,
    retain: true,
    properties: { messageExpiryInterval: 30 },
  });
  await sleep(2_100);
  const sub = await connect(port, { protocolVersion: 5, clientId: "me-rsub" });
  const got = packets(sub);
  await sub.subscribeAsync({ "mr/#": { qos: 1 } });
  await until(() => got.length >= 1, "the retained message");
  assert.equal(got[0].retain, true);
  const left = got[0].properties?.messageExpiryInterval;
  assert.ok(left !== undefined && left >= 1 && left <= 28, `expiry left ${left}`);
  await pub.publishAsync("mr/t", "", { qos: 1, retain: true });
  await Promise.all([sub.endAsync(), pub.endAsync()]);
});
