/**
 * An idle connection costs the node nothing while it is idle. Before, each of a session's three
 * receive loops with no filter (a publish-only device's: all three) polled every second, and each
 * poll left its waker in a set that only a SUBSCRIBE, an acknowledgement or the end cleared: three
 * timer callbacks a second per idle connection, and three closures a second kept for good. Here
 * time runs fast (the loops' one-second timers fire at once) and the timers set while the
 * connection idles are counted.
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { MqttConnection } from "./connection.ts";
import { fakeApi, packetStream, testContext } from "./_testing_connection.ts";

Deno.test("a connection without subscriptions sets no timers while it idles", async () => {
  const realSetTimeout = globalThis.setTimeout;
  let idleTimers = 0;
  let idling = false;
  // deno-lint-ignore no-explicit-any
  globalThis.setTimeout = ((f: () => void): any => {
    if (idling) idleTimers++;
    return realSetTimeout(f, 0); // time runs fast: a second's poll comes at once
  }) as typeof setTimeout;
  const connack = Promise.withResolvers<void>();
  const stream = packetStream((b) => (connack.resolve(), Promise.resolve(b.length)));
  const connect = { cmd: "connect", protocolVersion: 4, clientId: "idle", clean: true };
  stream.give(mqtt.generate({ ...connect, keepalive: 0 } as Packet));
  let running: Promise<void> | undefined;
  try {
    running = new MqttConnection(testContext(fakeApi(() => undefined)), stream).run();
    await connack.promise;
    idling = true;
    for (let i = 0; i < 20; i++) await new Promise((r) => realSetTimeout(r, 10));
  } finally {
    idling = false;
    globalThis.setTimeout = realSetTimeout;
  }
  stream.end();
  await running;
  assert.equal(idleTimers, 0, `${idleTimers} timers set while idle`);
});
