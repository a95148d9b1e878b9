/**
 * QoS 2 to a subscriber: PUBREL goes only once the PUBREC's settle is committed. A delivery whose
 * lease ended while its settle was still on its way came back to the same connection, and the
 * connection sent PUBREL at once: the client took the message (MQTT.js hands it to the
 * application at PUBREL) and freed the packet id, while the message was not yet acked. Had the
 * settle then been refused (`session_moved`: the client took its session over on another
 * connection meanwhile) or failed, the message came again under the same packet id, and the
 * client took it a second time.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import mqtt from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { MqttConnection } from "./connection.ts";
import { answer, fakeApi, NEVER, packetStream, testContext } from "./_testing_connection.ts";
import { exactlyOnceId } from "./inflight.ts";

const settle = () => new Promise((r) => setTimeout(r, 5));

async function until(ok: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !ok(); i++) await settle();
  assert.ok(ok(), `never: ${what}`);
}

Deno.test("a QoS 2 delivery back from its lease while its settle is pending gets no PUBREL until the settle commits", async () => {
  const delivery = (receipt: string, attempt: number) => ({
    seq: 5,
    body: "m",
    headers: { "mqtt-payload": "text", "mqtt-qos": "2" },
    subject: "a.b",
    attempt,
    receipt,
    publishedAt: 0,
  });
  const settleAnswer = Promise.withResolvers<{ status: number; text: string }>();
  const settleSeen = Promise.withResolvers<void>();
  let receives = 0;
  const fetch = fakeApi((r) => {
    if (r.path.endsWith("-q2/receive")) {
      receives++;
      if (receives === 1) return answer(200, { messages: [delivery("r1", 1)] });
      // The lease ended with the settle still pending: the message comes back with a new receipt.
      if (receives === 2) {
        return settleSeen.promise.then(() => ({
          status: 200,
          text: JSON.stringify({ messages: [delivery("r2", 2)] }),
        }));
      }
      return NEVER;
    }
    if (r.path.endsWith("/settle")) {
      settleSeen.resolve();
      return settleAnswer.promise;
    }
    return undefined;
  });
  const packets: Packet[] = [];
  const parser = mqtt.parser({ protocolVersion: 4 });
  parser.on("packet", (p) => packets.push(p));
  const stream = packetStream((b) => (parser.parse(Buffer.from(b)), Promise.resolve(b.length)));
  const connect = { cmd: "connect", protocolVersion: 4, clientId: "s", clean: true, keepalive: 0 };
  stream.give(mqtt.generate(connect as Packet));
  stream.give(
    mqtt.generate({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "a/#", qos: 2 }] }),
  );
  const running = new MqttConnection(testContext(fetch), stream).run();
  const id = exactlyOnceId(5);
  await until(() => packets.some((p) => p.cmd === "publish"), "the PUBLISH");
  stream.give(mqtt.generate({ cmd: "pubrec", messageId: id }));
  await settleSeen.promise;
  await until(() => receives >= 3, "the redelivery handled");
  assert.deepEqual(
    packets.filter((p) => p.cmd === "pubrel"),
    [],
    "no PUBREL while the message is not settled",
  );
  assert.equal(packets.filter((p) => p.cmd === "publish").length, 1, "not sent again either");
  settleAnswer.resolve({ status: 200, text: JSON.stringify({ results: [], kept: true }) });
  await until(() => packets.some((p) => p.cmd === "pubrel"), "PUBREL after the settle");
  assert.deepEqual(packets.filter((p) => p.cmd === "pubrel").map((p) => p.messageId), [id]);
  stream.end();
  await running;
});
