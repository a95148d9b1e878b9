/**
 * A subscriber that stops reading its socket (its connection stays open) must not make the node
 * keep what it is sent without bound: the session's QoS 0 receives (no acknowledgement window
 * holds them back) wait for what was sent before to be written.
 *
 * @module
 */

import assert from "node:assert/strict";
import { MqttConnection } from "./connection.ts";
import {
  packetStream,
  qos0Flood,
  RECEIVES_OFFERED,
  slowSubscriber,
  testContext,
  untilStill,
} from "./_testing_connection.ts";

/** The bytes the client reads before it stops reading. */
const READ_BYTES = 16 * 1024;

Deno.test("a QoS 0 subscriber that stops reading holds its session's receives back", async () => {
  const { fetch, counter } = qos0Flood(32);
  let written = 0;
  const { promise: stuck, resolve: unstick } = Promise.withResolvers<number>();
  const stream = packetStream((b) => {
    if (written >= READ_BYTES) return stuck.then(() => b.length); // the client reads no more
    written += b.length;
    return Promise.resolve(b.length);
  });
  stream.give(...slowSubscriber("slow-reader"));
  const running = new MqttConnection(testContext(fetch), stream).run();
  const taken = await untilStill(() => counter.receives, RECEIVES_OFFERED);
  stream.end();
  unstick(0);
  await running;
  assert.ok(written >= READ_BYTES, "the client read its first deliveries");
  assert.ok(
    taken < 10,
    `${taken} receives of 256 (${taken * 256} messages) went to a client that reads nothing`,
  );
});
