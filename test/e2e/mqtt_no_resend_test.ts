/**
 * A delivery the client has not acknowledged when its lease in the broker ends (10 s) is not sent
 * again on the same connection (MQTT 5 4.4.0-1: a server resends unacknowledged PUBLISHes only
 * when the client reconnects, and "MUST NOT resend messages at any other time"). Before, the
 * broker's redelivery to the same connection went out: QoS 1 as a second PUBLISH with a new packet
 * id and DUP, taking a second slot of the receive maximum, and the first one's PUBACK acked a
 * receipt that no longer held the message; QoS 2 as the PUBLISH again. Now the connection's
 * delivery takes the new receipt, so the client's one acknowledgement settles the message.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { IPublishPacket, Packet } from "mqtt-packet";
import { connect, mqttNodes, rawClient, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
const api = nodes.url("n1");
addEventListener("unload", () => nodes.stop());

/** The session subscription of `clientId` (auth off) for QoS `qos`, as the API names it. */
function subscription(clientId: string, qos: 1 | 2): string {
  const hash = createHash("sha256").update(clientId).digest("hex").slice(0, 40);
  return `${api}/v1/topics/mqtt/subscriptions/mqtt-${hash}-q${qos}`;
}

async function stats(url: string): Promise<{ delivered: number; ready: number; leased: number }> {
  const r = await fetch(url);
  assert.equal(r.status, 200);
  return await r.json();
}

for (const qos of [1, 2] as const) {
  Deno.test(`QoS ${qos}: a delivery not acknowledged within its lease is not sent again on the connection; one acknowledgement settles it`, async () => {
    const clientId = `no-resend-${qos}`;
    const client = await rawClient(port, 5);
    await client.send({ cmd: "connect", protocolVersion: 5, clientId, clean: true, keepalive: 0 });
    const topic = `nr${qos}/#`;
    await client.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic, qos }] });
    await until(() => client.packets().some((p) => p.cmd === "suback"), "SUBACK");
    const pub = await connect(port, { protocolVersion: 5 });
    await pub.publishAsync(`nr${qos}/x`, "once", { qos });
    const publishes = () =>
      client.packets().filter((p): p is IPublishPacket => p.cmd === "publish");
    await until(() => publishes().length > 0, "the PUBLISH");
    // Until the broker handed the message out again (its lease ended; the gateway's receive took
    // it back), then a while for a second PUBLISH that must not come.
    const sub = subscription(clientId, qos);
    await until(async () => (await stats(sub)).delivered >= 2, "the redelivery", 30_000);
    await until(() => publishes().length > 1, "a second PUBLISH", 2_000).catch(() => {});
    assert.deepEqual(publishes().map((p) => [p.messageId, p.dup]), [[
      publishes()[0].messageId,
      false,
    ]]);
    const id = publishes()[0].messageId!;
    if (qos === 1) await client.send({ cmd: "puback", messageId: id } as Packet);
    else {
      await client.send({ cmd: "pubrec", messageId: id } as Packet);
      await until(() => client.packets().some((p) => p.cmd === "pubrel"), "PUBREL");
      await client.send({ cmd: "pubcomp", messageId: id } as Packet);
    }
    await until(async () => {
      const s = await stats(sub);
      return s.ready + s.leased === 0;
    }, "the message settled by the one acknowledgement");
    assert.equal(publishes().length, 1);
    await pub.endAsync();
    await client.close();
  });
}
