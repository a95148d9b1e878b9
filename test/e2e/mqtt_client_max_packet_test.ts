/**
 * MQTT 5 Maximum Packet Size from the client (3.1.2.11.4): the server must not send it a packet
 * larger than it says, and drops such a message as if it had sent it. Otherwise a small device
 * that gets one message beyond its buffer closes (0x95), reconnects, is sent the same message
 * again and closes again: its session can never deliver anything after it.
 *
 * @module
 */

import assert from "node:assert/strict";
import mqttPacket from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { connect, mqttNodes, rawClient, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
addEventListener("unload", () => nodes.stop());

for (const qos of [0, 1, 2] as const) {
  Deno.test(`MQTT 5 maximum packet size of the client: a QoS ${qos} delivery beyond it is dropped, the ones after it come`, async () => {
    const client = await rawClient(port);
    const clientId = `small-${qos}`;
    await client.send({
      cmd: "connect",
      protocolVersion: 5,
      clientId,
      clean: true,
      keepalive: 0,
      properties: { maximumPacketSize: 256 },
    } as Packet);
    await client.send({
      cmd: "subscribe",
      messageId: 1,
      subscriptions: [{ topic: `small${qos}/#`, qos }],
    } as Packet);
    await until(() => client.got.some((g) => g.packet.cmd === "suback"), "SUBACK");
    const pub = await connect(port, { protocolVersion: 5 });
    await pub.publishAsync(`small${qos}/big`, "x".repeat(1000), { qos });
    await pub.publishAsync(`small${qos}/small`, "fits", { qos });
    await until(
      () =>
        client.got.some((g) =>
          g.packet.cmd === "publish" && g.packet.payload.toString() === "fits"
        ) || client.got.some((g) => g.packet.cmd === "disconnect"),
      "the small message",
    );
    for (const g of client.got) {
      assert.ok(g.bytes <= 256, `${g.packet.cmd} of ${g.bytes} bytes sent to the client`);
    }
    const publishes = client.got.filter((g) => g.packet.cmd === "publish").map((g) =>
      (g.packet as mqttPacket.IPublishPacket).topic
    );
    assert.deepEqual(publishes, [`small${qos}/small`]);
    await pub.endAsync();
    await client.close();
  });
}
