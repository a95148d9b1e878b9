/**
 * MQTT 5 3.14.2.2.2: a DISCONNECT that sets a non-zero Session Expiry Interval after a CONNECT
 * with 0 is a protocol error: the server answers DISCONNECT 0x82, the session's expiry stays 0,
 * and it is not taken as a DISCONNECT (the will is published). Before, the interval was ignored
 * and the DISCONNECT taken as a normal one.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import mqtt from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import type { ApiRequest } from "./broker_api.ts";
import { MqttConnection } from "./connection.ts";
import { answer, fakeApi, packetStream, testContext } from "./_testing_connection.ts";

/**
 * A v5 client connecting with session expiry `connectExpiry` and a will, then sending DISCONNECT
 * with session expiry `disconnectExpiry`: the packets it got, the expiry the session was
 * released with, and the will's publishes.
 */
async function disconnectWith(connectExpiry: number, disconnectExpiry: number) {
  const parser = mqtt.parser({ protocolVersion: 5 });
  const got: Packet[] = [];
  parser.on("packet", (p) => got.push(p));
  const requests: ApiRequest[] = [];
  const fetch = fakeApi((r) => {
    requests.push(r);
    if (r.path.endsWith("/messages")) return answer(201, { seq: 1, id: "w", duplicate: false });
    return undefined;
  });
  const stream = packetStream((b) => (parser.parse(Buffer.from(b)), Promise.resolve(b.length)));
  const opts = { protocolVersion: 5 } as const;
  stream.give(
    mqtt.generate({
      cmd: "connect",
      protocolVersion: 5,
      clientId: "d",
      clean: true,
      keepalive: 0,
      properties: { sessionExpiryInterval: connectExpiry },
      will: { topic: "gone/d", payload: Buffer.from("bye"), qos: 1, retain: false },
    }, opts),
    mqtt.generate({
      cmd: "disconnect",
      reasonCode: 0,
      properties: { sessionExpiryInterval: disconnectExpiry },
    }, opts),
  );
  await new MqttConnection(testContext(fetch), stream).run();
  stream.end();
  // The will's publish and the release are sent as the connection ends (bounded wait).
  for (let i = 0; i < 100 && !requests.some((r) => r.path.endsWith("/release")); i++) {
    await new Promise((r) => setTimeout(r, 1));
  }
  const release = requests.find((r) => r.path.endsWith("/release"));
  return {
    sent: got.map((p) => p.cmd === "disconnect" ? `disconnect ${p.reasonCode}` : p.cmd),
    releasedWith: release === undefined ? undefined : JSON.parse(release.text!).expireMs,
    wills: requests.filter((r) => r.path.endsWith("/messages")).length,
  };
}

Deno.test("v5 DISCONNECT setting a session expiry after a CONNECT with 0: DISCONNECT 0x82, expiry kept, will published", async () => {
  const r = await disconnectWith(0, 60);
  assert.deepEqual(r.sent, ["connack", `disconnect ${0x82}`]);
  assert.equal(r.releasedWith, 0);
  assert.equal(r.wills, 1);
});

Deno.test("v5 DISCONNECT changing a non-zero session expiry is taken (no will)", async () => {
  const r = await disconnectWith(30, 60);
  assert.deepEqual(r.sent, ["connack"]);
  assert.equal(r.releasedWith, 60_000);
  assert.equal(r.wills, 0);
  const zero = await disconnectWith(0, 0); // 0 after 0: no change, no error
  assert.deepEqual(zero.sent, ["connack"]);
  assert.equal(zero.releasedWith, 0);
});
