/**
 * MQTT 5 receive maximum across a session's QoS levels: the QoS 1 and QoS 2 filters of a session
 * are two quorumq subscriptions received from side by side, and together they must not have more
 * QoS 1 and 2 PUBLISHes awaiting the client than its CONNECT's receive maximum (MQTT 5, 3.3.4:
 * the client may close with 0x93 otherwise).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import mqttPacket from "mqtt-packet";
import { collect, connect, mqttNodes, rawExchange, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
addEventListener("unload", () => nodes.stop());

Deno.test("MQTT 5 receive maximum 1 holds across a session's QoS 1 and QoS 2 filters", async () => {
  const connectPkt = mqttPacket.generate({
    cmd: "connect",
    protocolVersion: 5,
    clientId: "rmax-levels",
    clean: true,
    keepalive: 0,
    properties: { receiveMaximum: 1 },
  });
  const subscribe = mqttPacket.generate({
    cmd: "subscribe",
    messageId: 1,
    subscriptions: [{ topic: "rml/one/#", qos: 1 }, { topic: "rml/two/#", qos: 2 }],
  }, { protocolVersion: 5 });
  // The raw client never answers a delivery; it reads for 3 s while 3 + 3 are published.
  const reading = rawExchange(port, [connectPkt, subscribe], 3000);
  await new Promise((r) => setTimeout(r, 500));
  const pub = await connect(port, { protocolVersion: 5 });
  await Promise.all([
    ...[0, 1, 2].map((i) => pub.publishAsync(`rml/one/${i}`, `a${i}`, { qos: 1 })),
    ...[0, 1, 2].map((i) => pub.publishAsync(`rml/two/${i}`, `b${i}`, { qos: 2 })),
  ]);
  const { bytes } = await reading;
  const cmds: string[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  parser.on("packet", (p: { cmd: string }) => cmds.push(p.cmd));
  parser.parse(Buffer.from(bytes));
  assert.deepEqual(cmds, ["connack", "suback", "publish"]);
  await pub.endAsync();
});

Deno.test("MQTT 5 receive maximum 1: the deliveries that waited for room all come, each once, as the client answers", async () => {
  const sub = await connect(port, {
    protocolVersion: 5,
    clientId: "rmax-all",
    properties: { receiveMaximum: 1 },
  });
  const got = collect(sub);
  await sub.subscribeAsync({ "rma/one/#": { qos: 1 }, "rma/two/#": { qos: 2 } });
  const pub = await connect(port, { protocolVersion: 5 });
  const want: string[] = [];
  await Promise.all([0, 1, 2, 3, 4].flatMap((i) => {
    want.push(`a${i}`, `b${i}`);
    return [
      pub.publishAsync(`rma/one/${i}`, `a${i}`, { qos: 1 }),
      pub.publishAsync(`rma/two/${i}`, `b${i}`, { qos: 2 }),
    ];
  }));
  await until(() => got.length >= want.length, "all ten deliveries");
  assert.deepEqual(got.map((m) => m.payload).sort(), want.sort());
  await Promise.all([sub.endAsync(), pub.endAsync()]);
});
