/**
 * MQTT 5 3.2.2.3.2: the server tells the client, in CONNACK, a Session Expiry Interval other than
 * the one its CONNECT asked for. The gateway caps one over 30 days (the longest the broker keeps a
 * released session) and did not say so: a client that asked for 60 days believed its session
 * would wait that long.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import mqtt from "mqtt-packet";
import type { IConnackPacket, Packet } from "mqtt-packet";
import { MqttConnection } from "./connection.ts";
import { fakeApi, packetStream, testContext } from "./_testing_connection.ts";

/** The CONNACK's session expiry interval for a v5 CONNECT asking for `asked` (seconds). */
async function connackExpiry(asked: number | undefined): Promise<number | undefined> {
  const parser = mqtt.parser({ protocolVersion: 5 });
  const got = Promise.withResolvers<IConnackPacket>();
  parser.on("packet", (p) => p.cmd === "connack" && got.resolve(p));
  const stream = packetStream((b) => (parser.parse(Buffer.from(b)), Promise.resolve(b.length)));
  const connect = { cmd: "connect", protocolVersion: 5, clientId: "e", clean: true, keepalive: 0 };
  const properties = asked === undefined ? {} : { properties: { sessionExpiryInterval: asked } };
  stream.give(mqtt.generate({ ...connect, ...properties } as Packet, { protocolVersion: 5 }));
  const running = new MqttConnection(testContext(fakeApi(() => undefined)), stream).run();
  const connack = await got.promise;
  stream.end();
  await running;
  assert.equal(connack.reasonCode, 0);
  return connack.properties?.sessionExpiryInterval;
}

Deno.test("v5 CONNACK tells a session expiry over 30 days is capped to 30 days", async () => {
  assert.equal(await connackExpiry(60 * 24 * 3600), 30 * 24 * 3600);
  assert.equal(await connackExpiry(30 * 24 * 3600 + 1), 30 * 24 * 3600);
});

Deno.test("v5 CONNACK carries no session expiry when the CONNECT's is kept", async () => {
  for (const asked of [undefined, 0, 3600, 30 * 24 * 3600, 0xffffffff]) {
    assert.equal(await connackExpiry(asked), undefined, `asked ${asked}`);
  }
});
