/**
 * The MQTT gateway against a real node with a small API body limit (`--max-body-bytes 4096`):
 * PUBLISHes each within the packet limit, that arrive together and would pass the body limit as
 * one batch publish, are published in order, each once, and answered, the connection kept open;
 * one PUBLISH alone beyond the limit closes the connection (v5 0x95) after those before it are
 * answered.
 *
 * @module
 */

import assert from "node:assert/strict";
import mqttPacket from "mqtt-packet";
import { collect, connect, mqttNodes, rawClient as openRawClient, until } from "./mqtt_client.ts";

const BODY_LIMIT = 4096;

const { nodes, mqttPort } = await mqttNodes({
  count: 1,
  storage: "memory",
  extraArgs: ["--max-body-bytes", String(BODY_LIMIT)],
});
const port = mqttPort("n1");
addEventListener("unload", () => nodes.stop());

/** A raw MQTT 5 client: the packets it got, whether the server closed, and a way to write. */
async function rawClient(clientId: string) {
  const c = await openRawClient(port);
  await c.send({ cmd: "connect", protocolVersion: 5, clientId, clean: true, keepalive: 0 });
  await until(() => c.packets().some((p) => p.cmd === "connack"), "CONNACK");
  return {
    get got(): mqttPacket.Packet[] {
      return c.packets();
    },
    /** Writes the packets in one write: they arrive together. */
    write: c.sendTogether,
    closed: c.closed,
    close: c.close,
  };
}

/** A text payload of `bytes` bytes that starts with `name`. */
const sized = (name: string, bytes: number) => `${name} `.padEnd(bytes, "x");

function publish(topic: string, payload: string, qos: 1 | 2, messageId: number) {
  return { cmd: "publish", topic, payload, qos, dup: false, retain: false, messageId } as const;
}

/** The packet ids of the answers of `cmd` in `got`, in order. */
const idsOf = (got: mqttPacket.Packet[], cmd: string) =>
  got.filter((p) => p.cmd === cmd).map((p) => (p as { messageId: number }).messageId);

Deno.test("PUBLISHes that arrive together past the body limit are each published once, in order, and answered; the connection stays open", async () => {
  const sub = await connect(port, { protocolVersion: 5, clientId: "limit-sub" });
  const got = collect(sub);
  await sub.subscribeAsync({ "limit/#": { qos: 1 } });
  const c = await rawClient("limit-pub");
  // Ten QoS 1 and two QoS 2 PUBLISHes of 1,000 bytes: ~12 KB of JSON in one batch, 4 KiB allowed.
  const names = Array.from({ length: 12 }, (_, i) => `m${i + 1}`);
  await c.write(names.map((n, i) => publish("limit/a", sized(n, 1000), i < 10 ? 1 : 2, i + 1)));
  await until(
    () => idsOf(c.got, "puback").length + idsOf(c.got, "pubrec").length >= 12 || c.closed(),
    "the answers (or a close)",
  );
  assert.deepEqual(c.got.filter((p) => p.cmd === "disconnect"), []);
  assert.deepEqual(idsOf(c.got, "puback"), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(idsOf(c.got, "pubrec"), [11, 12]);
  for (const p of c.got) {
    if (p.cmd === "puback" || p.cmd === "pubrec") assert.equal(p.reasonCode ?? 0, 0);
  }
  await c.write([{ cmd: "pubrel", messageId: 11 }, { cmd: "pubrel", messageId: 12 }]);
  await until(() => idsOf(c.got, "pubcomp").length >= 2, "PUBCOMPs");
  // Still open: it answers a PINGREQ and publishes a last message, after the others.
  await c.write([{ cmd: "pingreq" }, publish("limit/end", "end", 1, 13)]);
  await until(() => c.got.some((p) => p.cmd === "pingresp"), "PINGRESP");
  await until(() => got.some((m) => m.topic === "limit/end"), "the last message");
  assert.equal(c.closed(), false);
  assert.deepEqual(c.got.filter((p) => p.cmd === "disconnect"), []);
  assert.deepEqual(got.map((m) => m.payload), [...names.map((n) => sized(n, 1000)), "end"]);
  await c.close();
  await sub.endAsync();
});

Deno.test("MQTT.js: a burst of QoS 1 PUBLISHes past the body limit is published, each once", async () => {
  const sub = await connect(port, { protocolVersion: 4, clientId: "burst-sub" });
  const got = collect(sub);
  await sub.subscribeAsync({ "burst/#": { qos: 1 } });
  const pub = await connect(port, { protocolVersion: 4, clientId: "burst-pub" });
  const names = Array.from({ length: 20 }, (_, i) => `b${i + 1}`);
  let closed = false;
  pub.on("close", () => closed = true);
  const acked: string[] = [];
  for (const n of names) {
    pub.publish("burst/a", sized(n, 1500), { qos: 1 }, (e) => e ?? acked.push(n));
  }
  pub.publish("burst/end", "end", { qos: 1 }, (e) => e ?? acked.push("end"));
  await until(() => acked.length === 21 || closed, "the PUBACKs (or a close)");
  assert.equal(closed, false, "the connection is kept");
  assert.deepEqual(acked, [...names, "end"]);
  await until(() => got.some((m) => m.topic === "burst/end"), "the last message");
  assert.deepEqual(got.map((m) => m.payload), [...names.map((n) => sized(n, 1500)), "end"]);
  await Promise.all([pub.endAsync(), sub.endAsync()]);
});

Deno.test("one PUBLISH alone beyond the body limit closes the connection (0x95) after those before it are answered", async () => {
  const c = await rawClient("limit-big");
  await c.write([
    publish("limit/big", sized("small", 1000), 1, 1),
    publish("limit/big", sized("big", 5000), 1, 2),
    publish("limit/big", "after", 1, 3),
  ]);
  await until(() => c.closed(), "the server closes the connection");
  assert.deepEqual(idsOf(c.got, "puback"), [1]);
  const disconnect = c.got.find((p) => p.cmd === "disconnect") as mqttPacket.IDisconnectPacket;
  assert.equal(disconnect?.reasonCode, 0x95);
  await c.close();
});
