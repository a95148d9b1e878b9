/**
 * MQTT 5 No Local (3.8.3.1): "If the value is 1, Application Messages MUST NOT be forwarded to a
 * connection with a ClientID equal to the ClientID of the publishing connection". The gateway
 * ignored the option: a client subscribed with No Local to a topic it publishes to got its own
 * messages back (a bridge that relies on it to break loops echoes each message back and forth).
 * Another client's No Local filter still gets them, and so does an overlapping filter of the
 * client's own without the option.
 *
 * @module
 */

import assert from "node:assert/strict";
import { collect, connect, mqttNodes, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
addEventListener("unload", () => nodes.stop());

Deno.test("MQTT 5 No Local: a client's own messages do not come back to it through a No Local filter", async () => {
  const self = await connect(port, { protocolVersion: 5, clientId: "nl-self" });
  const got = collect(self);
  await self.subscribeAsync({ "nl/#": { qos: 1, nl: true }, "nl/both": { qos: 1 } });
  const peer = await connect(port, { protocolVersion: 5, clientId: "nl-peer" });
  const peerGot = collect(peer);
  await peer.subscribeAsync({ "nl/#": { qos: 1, nl: true } });
  const other = await connect(port, { protocolVersion: 5, clientId: "nl-other" });
  await self.publishAsync("nl/own", "own", { qos: 1 });
  await self.publishAsync("nl/both", "both", { qos: 0 });
  await other.publishAsync("nl/theirs", "theirs", { qos: 1 });
  await until(() => got.some((m) => m.topic === "nl/theirs"), "the other client's message");
  await until(() => got.some((m) => m.topic === "nl/both"), "the overlapping filter's message");
  assert.deepEqual(got.map((m) => m.topic).sort(), ["nl/both", "nl/theirs"]);
  await until(() => peerGot.length >= 3, "the peer's messages");
  assert.deepEqual(peerGot.map((m) => m.topic).sort(), ["nl/both", "nl/own", "nl/theirs"]);
  await Promise.all([self.endAsync(), peer.endAsync(), other.endAsync()]);
});

Deno.test("MQTT 3.1.1 has no No Local: a client's own messages come back", async () => {
  const self = await connect(port, { protocolVersion: 4, clientId: "nl-v4" });
  const got = collect(self);
  await self.subscribeAsync({ "nl4/#": { qos: 1 } });
  await self.publishAsync("nl4/own", "own", { qos: 1 });
  await until(() => got.length >= 1, "its own message");
  assert.deepEqual(got.map((m) => m.topic), ["nl4/own"]);
  await self.endAsync();
});
