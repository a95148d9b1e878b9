/**
 * MQTT 5 subscription identifiers (3.8.2.1.2): a server that does not send them back on its
 * PUBLISHes (3.3.4-3) must say so in CONNACK (Subscription Identifiers Available 0, 3.2.2.3.12:
 * absent means they are supported). The gateway supports none and said nothing: a client that
 * routes its messages by subscription identifier (MQTT.js's `subscriptionIdentifier`, Paho's
 * callbacks per subscription) waited for identifiers that never came.
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt";
import { mqttNodes } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
addEventListener("unload", () => nodes.stop());

Deno.test("MQTT 5 CONNACK says subscription identifiers are not available", async () => {
  const client = mqtt.connect(`mqtt://127.0.0.1:${mqttPort("n1")}`, {
    protocolVersion: 5,
    reconnectPeriod: 0,
  });
  const ack = await new Promise<mqtt.IConnackPacket>((resolve, reject) => {
    client.once("connect", resolve);
    client.once("error", reject);
  });
  assert.equal(ack.properties?.subscriptionIdentifiersAvailable, false);
  await client.endAsync();
});
