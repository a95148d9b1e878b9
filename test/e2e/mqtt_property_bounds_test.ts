/**
 * A v5 PUBLISH whose properties pass what the API keeps of a message's header (a name of 256
 * characters, a value of 8,192; MQTT allows 65,535 bytes): that PUBLISH alone is refused (PUBACK
 * 0x83) and the connection goes on. Before, its header made the API refuse the whole batch: the
 * connection was closed (0x80) with the batch's other PUBLISHes unanswered, and the client, which
 * sends its unacknowledged PUBLISHes again when it reconnects, was closed again each time.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { IPublishPacket } from "mqtt-packet";
import { collect, connect, mqttNodes, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
addEventListener("unload", () => nodes.stop());

Deno.test("MQTT 5: a PUBLISH with a property past the broker's bounds is refused alone (0x83); the connection stays", async () => {
  const sub = await connect(port, { protocolVersion: 5, clientId: "pb-sub" });
  const got = collect(sub);
  await sub.subscribeAsync({ "pb/#": { qos: 1 } });
  const pub = await connect(port, { protocolVersion: 5, clientId: "pb-pub" });
  let closed = false;
  pub.on("close", () => closed = true);
  const reasons = new Map<number, number>();
  pub.on("packetreceive", (p) => {
    if (p.cmd === "puback") reasons.set(p.messageId!, p.reasonCode ?? 0);
  });
  const sent: number[] = [];
  pub.on("packetsend", (p) => p.cmd === "publish" && sent.push((p as IPublishPacket).messageId!));
  const long = { userProperties: { note: "x".repeat(9_000) } };
  const data = { correlationData: Buffer.alloc(7_000, 1) }; // base64: 9,336 characters
  const all = [
    pub.publishAsync("pb/a", "a", { qos: 1 }),
    pub.publishAsync("pb/long", "l", { qos: 1, properties: long }),
    pub.publishAsync("pb/b", "b", { qos: 1, properties: { userProperties: { ok: "y" } } }),
    pub.publishAsync("pb/data", "d", { qos: 1, properties: data }),
    pub.publishAsync("pb/c", "c", { qos: 1 }),
  ];
  let answered = 0;
  for (const a of all) a.then(() => answered++, () => answered++);
  await until(() => closed || answered === all.length, "the PUBLISHes' answers, or the close");
  assert.equal(closed, false, "the connection was closed");
  const settled = await Promise.allSettled(all);
  assert.deepEqual(settled.map((s) => s.status), [
    "fulfilled",
    "rejected",
    "fulfilled",
    "rejected",
    "fulfilled",
  ]);
  assert.deepEqual(sent.map((id) => reasons.get(id)), [0, 0x83, 0, 0x83, 0]);
  await until(() => got.some((m) => m.topic === "pb/c"), "pb/c");
  assert.deepEqual(got.map((m) => m.topic), ["pb/a", "pb/b", "pb/c"]);
  assert.equal(closed, false);
  await Promise.all([pub.endAsync(), sub.endAsync()]);
});
