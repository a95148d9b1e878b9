/**
 * QoS 2 to a subscriber when its PUBREC comes after the delivery's lease ended (a slow client, or
 * a settle that waited out a leader election): the client has the message, so PUBREC settles it
 * for good, and after PUBCOMP it is never sent again as a new PUBLISH (which the client, its
 * packet id done, would take as a second message).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import mqttPacket from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { connect, mqttNodes, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
const api = nodes.url("n1");
addEventListener("unload", () => nodes.stop());

/** A raw MQTT 5 client: packets in arrival order, written as the test says. */
async function rawClient(p: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: p });
  const got: Packet[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  parser.on("packet", (pk: Packet) => got.push(pk));
  const reading = (async () => {
    const buf = new Uint8Array(65536);
    for (let i = 0; i < 100_000; i++) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return;
      parser.parse(Buffer.from(buf.subarray(0, n)));
    }
  })();
  return {
    got,
    send: (pk: Packet) => conn.write(mqttPacket.generate(pk, { protocolVersion: 5 })),
    close: async () => {
      conn.close();
      await reading;
    },
  };
}

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
  await until(() => client.got.some((p) => p.cmd === "suback"), "SUBACK");
  const pub = await connect(port, { protocolVersion: 5 });
  await pub.publishAsync("late/x", "once", { qos: 2 });
  await until(() => client.got.some((p) => p.cmd === "publish"), "the PUBLISH");
  const first = client.got.find((p) => p.cmd === "publish") as mqttPacket.IPublishPacket;
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
  await until(() => client.got.some((p) => p.cmd === "pubrel"), "PUBREL");
  const at = client.got.length;
  await client.send({ cmd: "pubcomp", messageId: first.messageId } as Packet);
  // Nothing more may come: wait a while for a PUBLISH that should not.
  await until(() => client.got.length > at, "anything", 3000).catch(() => {});
  const after = client.got.slice(at).map((p) =>
    p.cmd === "publish" ? `publish ${p.messageId} dup=${p.dup} ${p.payload}` : p.cmd
  );
  assert.deepEqual(after, [], "sent again after PUBCOMP: a second delivery");
  const info = await (await fetch(sub)).json();
  assert.equal(info.ready + info.leased, 0, "the message is settled");
  await pub.endAsync();
  await client.close();
});
