/**
 * A CONNECT's will is checked when it comes, and published as it says. Before, a will topic that
 * is no valid topic name (a wildcard, empty, a control character) was accepted and the will
 * silently never published (its publish was refused when the connection ended, only logged), and
 * a v5 will's message expiry interval (3.1.3.2.4: sent as the message's expiry when the will is
 * published) was dropped: a retained will meant to expire stayed the topic's for good.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { connect, mqttNodes, rawClient, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
const api = nodes.url("n1");
addEventListener("unload", () => nodes.stop());

for (const protocolVersion of [4, 5] as const) {
  Deno.test(`v${protocolVersion}: a CONNECT whose will topic is no valid topic name is refused${protocolVersion === 5 ? " (CONNACK 0x90)" : " (closed)"}`, async () => {
    for (const topic of ["w/+", "w/#", "w/x\u0001"]) {
      const c = await rawClient(port, protocolVersion);
      await c.send({
        cmd: "connect",
        protocolVersion,
        clientId: `wt-${protocolVersion}`,
        clean: true,
        keepalive: 0,
        will: { topic, payload: Buffer.from("gone"), qos: 1, retain: false },
      });
      await until(() => c.closed(), `${JSON.stringify(topic)}: the connection closed`);
      const acks = c.packets().filter((p) => p.cmd === "connack");
      if (protocolVersion === 5) {
        assert.deepEqual(acks.map((p) => (p as { reasonCode?: number }).reasonCode), [0x90]);
      } else assert.deepEqual(acks, [], JSON.stringify(topic));
      await c.close();
    }
  });
}

Deno.test("v5: a CONNECT whose will has a property past the API's header bounds is refused (CONNACK 0x83)", async () => {
  const long = "v".repeat(8_193);
  const beyond = [
    { userProperties: { a: long } },
    { userProperties: { ["n".repeat(257)]: "x" } },
    { contentType: long },
  ];
  for (const properties of beyond) {
    const c = await rawClient(port, 5);
    await c.send({
      cmd: "connect",
      protocolVersion: 5,
      clientId: "wb-5",
      clean: true,
      keepalive: 0,
      will: { topic: "wb/x", payload: Buffer.from("gone"), qos: 1, retain: false, properties },
    });
    await until(() => c.closed(), `${Object.keys(properties)}: the connection closed`);
    const acks = c.packets().filter((p) => p.cmd === "connack");
    assert.deepEqual(acks.map((p) => (p as { reasonCode?: number }).reasonCode), [0x83]);
    await c.close();
  }
  // Within the bounds: accepted.
  const ok = await connect(port, {
    protocolVersion: 5,
    clientId: "wb-ok",
    will: {
      topic: "wb/x",
      payload: Buffer.from("gone"),
      qos: 1,
      retain: false,
      properties: { userProperties: { a: "v".repeat(8_192) } },
    },
  });
  await ok.endAsync();
});

/** The retained messages of `subject` as of a new entry (entry time moves with entries). */
async function retainedCount(subject: string): Promise<number> {
  const tick = await fetch(`${api}/v1/topics/mqtt/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ subject: "wx.tick", body: 0 }),
  });
  await tick.body?.cancel();
  const res = await fetch(`${api}/v1/topics/mqtt/retained?subject=${subject}`);
  assert.equal(res.status, 200);
  return (await res.json()).messages.length;
}

Deno.test("a v5 retained will with a message expiry interval is kept only that long", async () => {
  const first = await connect(port, {
    protocolVersion: 5,
    clientId: "will-expiry",
    will: {
      topic: "wx/status",
      payload: Buffer.from("gone"),
      qos: 1,
      retain: true,
      properties: { messageExpiryInterval: 1 },
    },
  });
  first.stream.destroy();
  await until(async () => await retainedCount("wx.status") === 1, "the retained will");
  await until(async () => await retainedCount("wx.status") === 0, "the will's expiry");
});
