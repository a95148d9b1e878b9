/**
 * MQTT 5 PUBLISH properties through the broker: the server MUST send a message's user properties
 * (3.3.2-17), response topic (3.3.2-15), correlation data (3.3.2-16), content type (3.3.2-20)
 * and payload format indicator (3.3.2-4) unaltered to its subscribers. The gateway kept only the
 * user properties (as headers) and sent none of them: a v5 subscriber got a PUBLISH without
 * properties, so MQTT 5 request/response (a reply sent to the response topic with the correlation
 * data) could not work through quorumq. An HTTP publisher's headers reach v5 subscribers as user
 * properties; what a client may close on is left out; v3.1.1 has no properties.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { IPublishPacket } from "mqtt-packet";
import { connect, mqttNodes, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
addEventListener("unload", () => nodes.stop());

async function subscriber(protocolVersion: 4 | 5, filter: string): Promise<{
  got: IPublishPacket[];
  end: () => Promise<void>;
}> {
  const sub = await connect(port, { protocolVersion });
  const got: IPublishPacket[] = [];
  sub.on("message", (_topic, _payload, packet) => got.push(packet));
  await sub.subscribeAsync({ [filter]: { qos: 1 } });
  return { got, end: () => sub.endAsync() };
}

Deno.test("MQTT 5: a PUBLISH's properties reach a v5 subscriber, and a v3.1.1 one gets none", async () => {
  const v5 = await subscriber(5, "props/#");
  const v4 = await subscriber(4, "props/#");
  const pub = await connect(port, { protocolVersion: 5 });
  await pub.publishAsync("props/req", "ping", {
    qos: 1,
    properties: {
      userProperties: { trace: "t-1", "mqtt-response-topic": "spoofed/+" },
      responseTopic: "props/reply",
      correlationData: Buffer.from([0, 1, 2, 255]),
      contentType: "text/plain",
      payloadFormatIndicator: true,
    },
  });
  await until(() => v5.got.length > 0 && v4.got.length > 0, "the message");
  const p = v5.got[0].properties ?? {};
  assert.deepEqual({ ...p.userProperties }, { trace: "t-1" });
  assert.equal(p.responseTopic, "props/reply");
  assert.deepEqual([...Buffer.from(p.correlationData ?? [])], [0, 1, 2, 255]);
  assert.equal(p.contentType, "text/plain");
  assert.equal(p.payloadFormatIndicator, true);
  assert.equal(v4.got[0].properties, undefined);
  await Promise.all([v5.end(), v4.end(), pub.endAsync()]);
});

Deno.test("MQTT 5: an HTTP publisher's headers are user properties; ones a client may close on are left out", async () => {
  const v5 = await subscriber(5, "hprops/#");
  const res = await fetch(`${nodes.url("n1")}/v1/topics/mqtt/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      subject: "hprops.a",
      body: "x",
      headers: { "x-trace": "h-1", bad: "a\u0000b", "mqtt-response-topic": "a/+" },
    }),
  });
  assert.equal(res.status, 201);
  await res.body?.cancel();
  await until(() => v5.got.length > 0, "the message");
  const p = v5.got[0].properties ?? {};
  assert.deepEqual(Object.keys(p), ["userProperties"]);
  assert.deepEqual({ ...p.userProperties }, { "x-trace": "h-1" });
  await v5.end();
});

Deno.test("MQTT 5: a retained message sent at SUBSCRIBE carries its properties", async () => {
  const pub = await connect(port, { protocolVersion: 5 });
  await pub.publishAsync("rprops/state", "on", {
    qos: 1,
    retain: true,
    properties: { userProperties: { unit: "lux" }, contentType: "text/plain" },
  });
  const v5 = await subscriber(5, "rprops/#");
  await until(() => v5.got.length > 0, "the retained message");
  assert.equal(v5.got[0].retain, true);
  const p = v5.got[0].properties ?? {};
  assert.deepEqual({ ...p.userProperties }, { unit: "lux" });
  assert.equal(p.contentType, "text/plain");
  await Promise.all([v5.end(), pub.endAsync()]);
});
