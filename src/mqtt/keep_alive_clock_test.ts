/**
 * Keep-alive reads a monotonic clock, never the wall clock. With the wall clock read, a clock
 * stepped back by X let a dead client be noticed X late (its session's deliveries stuck on the
 * dead connection meanwhile), and one stepped forward disconnected idle live clients at once.
 * Here the wall clock (`Date.now`) reads an hour ahead of the node's start for the whole test: a
 * connection with a keep-alive of 1 s (limit 1.5 s) must not be ended before its limit has passed
 * (a lower bound, as MQTT 3.1.2.10 states it), and must be ended after it (bounded wait).
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { MqttConnection } from "./connection.ts";
import { fakeApi, packetStream, testContext } from "./_testing_connection.ts";

Deno.test("keep-alive ignores a wall clock that is an hour off", async () => {
  const realNow = Date.now;
  Date.now = () => realNow() + 3_600_000;
  const connack = Promise.withResolvers<void>();
  const stream = packetStream((b) => (connack.resolve(), Promise.resolve(b.length)));
  const connect = { cmd: "connect", protocolVersion: 4, clientId: "ka-clock", clean: true };
  stream.give(mqtt.generate({ ...connect, keepalive: 1 } as Packet));
  let endedAt = 0;
  let running: Promise<void> | undefined;
  const started = performance.now();
  try {
    running = new MqttConnection(testContext(fakeApi(() => undefined)), stream).run()
      .finally(() => endedAt = performance.now());
    await connack.promise;
    // Bounded wait for the end: 20 turns of 500 ms, far past the 1.5 s limit.
    for (let i = 0; i < 20 && endedAt === 0; i++) await new Promise((r) => setTimeout(r, 500));
  } finally {
    Date.now = realNow;
    stream.end();
    await running;
  }
  assert.ok(endedAt - started >= 1_500, `ended ${Math.round(endedAt - started)} ms after CONNECT`);
  assert.ok(endedAt - started < 10_000, "never ended: the silent client was not noticed");
});
