/**
 * MQTT 5 3.8.3.1: "It is a Protocol Error to set the No Local bit to 1 on a Shared Subscription"
 * [MQTT-3.8.3-4]. The gateway took such a SUBSCRIBE (SUBACK 1) and ignored the option; now it
 * closes the connection with DISCONNECT 0x82 before the SUBSCRIBE changes anything. No Local on an
 * ordinary filter is still taken.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { IDisconnectPacket } from "mqtt-packet";
import { connect, mqttNodes, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
addEventListener("unload", () => nodes.stop());

Deno.test("MQTT 5: No Local on a shared subscription closes the connection (DISCONNECT 0x82)", async () => {
  const client = await connect(port, { protocolVersion: 5, clientId: "snl-a" });
  let disconnect: IDisconnectPacket | undefined;
  let closed = false;
  client.on("disconnect", (p) => disconnect = p);
  client.on("close", () => closed = true);
  client.on("error", () => {});
  const suback = client.subscribeAsync({
    "snl/plain": { qos: 1 },
    "$share/g/snl/#": { qos: 1, nl: true },
  }).then((g) => g, (e: Error) => e);
  await until(() => closed, "the connection's end");
  assert.equal(disconnect?.reasonCode, 0x82, `got ${JSON.stringify(disconnect)}`);
  assert.ok((await suback) instanceof Error, "no SUBACK");
  client.end(true);
  // A shared subscription without the option, and No Local on an ordinary filter, are taken.
  const member = await connect(port, { protocolVersion: 5, clientId: "snl-b" });
  const got: string[] = [];
  member.on("message", (t) => got.push(t));
  await member.subscribeAsync({ "$share/g/snl/#": { qos: 1 }, "snl/mine": { qos: 1, nl: true } });
  await member.publishAsync("snl/x", "x", { qos: 1 });
  await until(() => got.includes("snl/x"), "the shared message");
  await member.endAsync();
});
