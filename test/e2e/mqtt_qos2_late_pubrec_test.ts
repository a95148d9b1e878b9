/**
 * QoS 2 to a subscriber when its PUBREC comes after the delivery's lease ended (a slow client, or
 * a settle that waited out a leader election): the client has the message, so PUBREC settles it
 * for good, and after PUBCOMP it is never sent again as a new PUBLISH (which the client, its
 * packet id done, would take as a second message).
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import mqttPacket from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { connect, mqttNodes, rawClient, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
const api = nodes.url("n1");
addEventListener("unload", () => nodes.stop());

Deno.test("a QoS 2 PUBREC that comes after the delivery's lease ended settles it: after PUBCOMP it is not sent again", async () => {
  const client = await rawClient(port);
  // Receive maximum 1: the delivery's lease ends while nothing else is received for the session.
  await client.send({
    cmd: "connect",
    protocolVersion: 5,
    clientId: "late-pubrec",
    clean: true,
    keepalive: 0,
    properties: { receiveMaximum: 1 },
  } as Packet);
  await client.send({
    cmd: "subscribe",
    messageId: 1,
    subscriptions: [{ topic: "late/#", qos: 2 }],
  } as Packet);
  await until(() => client.packets().some((p) => p.cmd === "suback"), "SUBACK");
  const pub = await connect(port, { protocolVersion: 5 });
  await pub.publishAsync("late/x", "once", { qos: 2 });
  await until(() => client.packets().some((p) => p.cmd === "publish"), "the PUBLISH");
  const first = client.packets().find((p) => p.cmd === "publish") as mqttPacket.IPublishPacket;
  // Until its lease ended (10 s): the message is ready in the session's QoS 2 subscription again.
  const hash = createHash("sha256").update("late-pubrec").digest("hex").slice(0, 40);
  const sub = `${api}/v1/topics/mqtt/subscriptions/mqtt-${hash}-q2`;
  await until(
    async () => {
      const r = await fetch(sub);
      const info = await r.json();
      return info.ready === 1;
    },
    "the delivery's lease to end",
    30_000,
  );
  await client.send({ cmd: "pubrec", messageId: first.messageId } as Packet);
  await until(() => client.packets().some((p) => p.cmd === "pubrel"), "PUBREL");
  const at = client.packets().length;
  await client.send({ cmd: "pubcomp", messageId: first.messageId } as Packet);
  // Nothing more may come: wait a while for a PUBLISH that should not.
  await until(() => client.packets().length > at, "anything", 3000).catch(() => {});
  const after = client.packets().slice(at).map((p) =>
    p.cmd === "publish" ? `publish ${p.messageId} dup=${p.dup} ${p.payload}` : p.cmd
  );
  assert.deepEqual(after, [], "sent again after PUBCOMP: a second delivery");
  const info = await (await fetch(sub)).json();
  assert.equal(info.ready + info.leased, 0, "the message is settled");
  await pub.endAsync();
  await client.close();
});
