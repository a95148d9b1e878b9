/**
 * A PUBACK's ack that the node's API fails to answer (it throws: a bug, or an answer that is not
 * JSON) must not take the node down: the acks are sent by a loop no one awaits, so a rejection
 * there was unhandled and ended the process. The receipts then wait out their lease, and the
 * messages come again (at least once), as after any lost ack.
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { memoryLogger } from "../log.ts";
import { MqttConnection } from "./connection.ts";
import { answer, fakeApi, packetStream, testContext } from "./_testing_connection.ts";

const DELIVERY = {
  seq: 1,
  body: "m",
  headers: { "mqtt-qos": "1", "mqtt-payload": "text" },
  subject: "acks.x",
  attempt: 1,
  receipt: "1.1.1",
};

Deno.test("an ack the API fails to answer is logged, not an unhandled rejection", async () => {
  let delivered = false;
  let acks = 0;
  const fetch = fakeApi((r) => {
    if (r.path.endsWith("-q1/receive") && !delivered) {
      delivered = true;
      return answer(200, { messages: [DELIVERY] });
    }
    if (!r.path.endsWith("/ack")) return undefined;
    acks++;
    return Promise.resolve({ status: 500, text: "Internal Server Error" }); // not JSON
  });
  const { promise: gotPublish, resolve: published } = Promise.withResolvers<void>();
  const stream = packetStream((b) => {
    if ((b[0] & 0xf0) === 0x30) published(); // a PUBLISH
    return Promise.resolve(b.length);
  });
  stream.give(
    mqtt.generate({ cmd: "connect", protocolVersion: 4, clientId: "acks", clean: true } as Packet),
    mqtt.generate({
      cmd: "subscribe",
      messageId: 1,
      subscriptions: [{ topic: "acks/#", qos: 1 }],
    } as Packet),
  );
  const log = memoryLogger();
  const running = new MqttConnection(testContext(fetch, log), stream).run();
  await gotPublish;
  // The client PUBACKs the delivery: its ack goes to the API, which fails.
  stream.give(mqtt.generate({ cmd: "puback", messageId: 1 } as Packet));
  for (let i = 0; i < 200 && acks === 0; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 50)); // the ack's answer is read
  stream.end();
  await running;
  assert.equal(acks, 1);
  assert.ok(log.lines.some((l) => l.event === "mqtt_ack_failed"), "the failure is logged");
});
