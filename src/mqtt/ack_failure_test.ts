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
import type { ApiRequest } from "./broker_api.ts";
import { MqttConnection } from "./connection.ts";
import { answer, fakeContext } from "./_testing_gateway.ts";
import type { ByteStream } from "./wire.ts";

/** The client's CONNECT and its SUBSCRIBE to `acks/#` at QoS 1. */
const PACKETS = [
  mqtt.generate({
    cmd: "connect",
    protocolVersion: 4,
    clientId: "acks",
    clean: true,
    keepalive: 0,
  } as Packet),
  mqtt.generate({
    cmd: "subscribe",
    messageId: 1,
    subscriptions: [{ topic: "acks/#", qos: 1 }],
  } as Packet),
];

Deno.test("an ack the API fails to answer is logged, not an unhandled rejection", async () => {
  const never = new Promise<{ status: number; text: string }>(() => {});
  let delivered = false;
  let acks = 0;
  const fetch = (r: ApiRequest) => {
    if (r.method === "GET" && r.path === "/v1/topics/mqtt") return answer(200, {});
    if (r.path.includes("/claims/")) return answer(200, { stamp: 1, present: false });
    if (r.path.includes("/retained")) return answer(200, { messages: [] });
    if (r.method === "PUT" && r.path.includes("/subscriptions/")) return answer(201, {});
    if (r.path.endsWith("-q1/receive") && !delivered) {
      delivered = true;
      return answer(200, {
        messages: [{
          seq: 1,
          body: "m",
          headers: { "mqtt-qos": "1", "mqtt-payload": "text" },
          subject: "acks.x",
          attempt: 1,
          receipt: "1.1.1",
        }],
      });
    }
    if (r.path.endsWith("/ack")) {
      acks++;
      return Promise.resolve({ status: 500, text: "Internal Server Error" }); // not JSON
    }
    return never;
  };
  // The client's packets, read as they are queued; `null` ends the stream.
  const queued: (Uint8Array | null)[] = [...PACKETS];
  let more = () => {};
  const { promise: gotPublish, resolve: published } = Promise.withResolvers<void>();
  const stream: ByteStream = {
    async read(buf) {
      for (let i = 0; queued.length === 0 && i < 1000; i++) {
        await new Promise<void>((r) => more = r);
      }
      const next = queued.shift();
      if (next === null || next === undefined) return null;
      buf.set(next);
      return next.length;
    },
    write(b) {
      if ((b[0] & 0xf0) === 0x30) published(); // a PUBLISH
      return Promise.resolve(b.length);
    },
    close: () => {
      queued.push(null);
      more();
    },
    remote: "test:0",
  };
  const log = memoryLogger();
  const conn = new MqttConnection(fakeContext(fetch, log), stream);
  const running = conn.run();
  await gotPublish;
  // The client PUBACKs the delivery: its ack goes to the API, which fails.
  queued.push(mqtt.generate({ cmd: "puback", messageId: 1 } as Packet));
  more();
  for (let i = 0; i < 200 && acks === 0; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 50)); // the ack's answer is read
  queued.push(null);
  more();
  await running;
  assert.equal(acks, 1);
  assert.ok(log.lines.some((l) => l.event === "mqtt_ack_failed"), "the failure is logged");
});
