/**
 * MQTT 5 PUBLISH properties through the broker (finding 28, open): the server MUST send a
 * message's user properties (3.3.2-17), response topic (3.3.2-15), correlation data (3.3.2-16),
 * content type (3.3.2-20) and payload format indicator (3.3.2-4) unaltered to its subscribers, and
 * a message expiry interval reduced by the time the message waited (3.3.2-6). The gateway keeps
 * only the user properties (as headers) and the expiry (as the message's TTL) and sends none of
 * them: a v5 subscriber gets a PUBLISH without properties, so MQTT 5 request/response (a reply
 * sent to the response topic with the correlation data) cannot work through quorumq. Ignored
 * until fixed (without `ignore` it fails on main: `properties` undefined).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { IPublishPacket } from "mqtt-packet";
import { connect, mqttNodes, until } from "./mqtt_client.ts";

Deno.test({
  name: "MQTT 5: a PUBLISH's properties reach a v5 subscriber",
  ignore: true,
  fn: async () => {
    const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
    const port = mqttPort("n1");
    try {
      const sub = await connect(port, { protocolVersion: 5 });
      const got: IPublishPacket[] = [];
      sub.on("message", (_topic, _payload, packet) => got.push(packet));
      await sub.subscribeAsync({ "props/#": { qos: 1 } });
      const pub = await connect(port, { protocolVersion: 5 });
      await pub.publishAsync("props/req", "ping", {
        qos: 1,
        properties: {
          userProperties: { trace: "t-1" },
          responseTopic: "props/reply",
          correlationData: Buffer.from("c-1"),
          contentType: "text/plain",
          payloadFormatIndicator: true,
        },
      });
      await until(() => got.length > 0, "the message");
      const p = got[0].properties ?? {};
      assert.deepEqual(p.userProperties, { trace: "t-1" });
      assert.equal(p.responseTopic, "props/reply");
      assert.equal(Buffer.from(p.correlationData ?? []).toString(), "c-1");
      assert.equal(p.contentType, "text/plain");
      assert.equal(p.payloadFormatIndicator, true);
      await Promise.all([sub.endAsync(), pub.endAsync()]);
    } finally {
      await nodes.stop();
    }
  },
});
