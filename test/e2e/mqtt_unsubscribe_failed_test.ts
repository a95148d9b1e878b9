/**
 * An UNSUBSCRIBE whose write the cluster cannot take (no leader) must not be answered as done:
 * before, the gateway dropped the filter from the connection, answered UNSUBACK (v5: success)
 * and left it in the session's subscription, so a persistent session that reconnected got the
 * filter's messages again, and a level's last filter (a DELETE) was taken as written. Now v5
 * answers 0x80 and the session keeps the filter (the connection too); v3.1.1, whose UNSUBACK has
 * no code, closes the connection without one, so the client sees the UNSUBSCRIBE fail.
 *
 * @module
 */

import assert from "node:assert/strict";
import { mqttNodes, rawClient, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 3, storage: "memory" });
addEventListener("unload", () => nodes.stop());
await nodes.waitLeader();
const [n1] = nodes.ids;
const port = mqttPort(n1);

Deno.test("an UNSUBSCRIBE the cluster cannot write: v5 UNSUBACK 0x80, v3.1.1 closed without UNSUBACK", async () => {
  const clients = [];
  for (const protocolVersion of [4, 5] as const) {
    const c = await rawClient(port, protocolVersion);
    await c.send({
      cmd: "connect",
      protocolVersion,
      clientId: `uf-${protocolVersion}`,
      clean: false,
      keepalive: 0,
      ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 600 } } : {}),
    });
    await until(() => c.packets().some((p) => p.cmd === "connack"), "CONNACK");
    await c.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "uf/#", qos: 1 }] });
    await until(() => c.packets().some((p) => p.cmd === "suback"), "SUBACK");
    clients.push(c);
  }
  // The other two nodes gone: no leader, no write.
  for (const id of nodes.ids.slice(1)) await nodes.kill(id);
  for (const c of clients) {
    await c.send({ cmd: "unsubscribe", messageId: 2, unsubscriptions: ["uf/#"] });
  }
  const [v4, v5] = clients;
  await until(() => v5.packets().some((p) => p.cmd === "unsuback"), "v5 UNSUBACK", 40_000);
  const ack = v5.packets().find((p) => p.cmd === "unsuback") as { granted?: number[] };
  assert.deepEqual(ack.granted, [0x80]);
  await until(() => v4.closed(), "the v3.1.1 connection closed", 40_000);
  assert.equal(v4.packets().some((p) => p.cmd === "unsuback"), false);
  await Promise.all(clients.map((c) => c.close()));
});
