/**
 * The MQTT test helpers themselves: `connectAck` sees a message that arrives in the same read as
 * the CONNACK (a persistent session's queued message, on a loaded machine).
 *
 * @module
 */

import assert from "node:assert/strict";
import mqttPacket from "mqtt-packet";
import { connectAck, until } from "./mqtt_client.ts";

Deno.test("connectAck collects a PUBLISH that arrives in the same read as the CONNACK", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const served = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(4096)); // the CONNECT
    const connack = mqttPacket.generate({ cmd: "connack", returnCode: 0, sessionPresent: true });
    const publish = mqttPacket.generate({
      cmd: "publish",
      topic: "away/0",
      payload: "queued while away",
      qos: 0,
      dup: false,
      retain: false,
    });
    // One write: the client reads both packets at once.
    const both = new Uint8Array(connack.length + publish.length);
    both.set(connack);
    both.set(publish, connack.length);
    await conn.write(both);
    return conn;
  })();
  const { client, sessionPresent, got } = await connectAck(port, {
    clientId: "away",
    clean: false,
  });
  const conn = await served;
  try {
    assert.equal(sessionPresent, true);
    await until(() => got.length === 1, "the queued message", 5_000);
    assert.deepEqual(got.map((m) => [m.topic, m.payload]), [["away/0", "queued while away"]]);
  } finally {
    await client.endAsync(true);
    conn.close();
    listener.close();
  }
});
