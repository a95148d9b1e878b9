/**
 * A subscriber that stops reading its socket (its connection stays open) must not make the node
 * keep what it is sent without bound: the session's QoS 0 receives (no acknowledgement window
 * holds them back) wait for what was sent before to be written.
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { MqttConnection } from "./connection.ts";
import { fakeContext, fakeTopicApi, untilStill } from "./_testing_gateway.ts";
import type { ByteStream } from "./wire.ts";

/** The bytes the client reads before it stops reading. */
const READ_BYTES = 16 * 1024;

/** A client that connects, subscribes to `slow/#` at QoS 0, and reads `READ_BYTES` only. */
function stuckReader() {
  const connect = mqtt.generate({
    cmd: "connect",
    protocolVersion: 4,
    clientId: "slow-reader",
    clean: true,
    keepalive: 0,
  } as Packet);
  const subscribe = mqtt.generate({
    cmd: "subscribe",
    messageId: 1,
    subscriptions: [{ topic: "slow/#", qos: 0 }],
  } as Packet);
  const seen = { written: 0 };
  let reads = 0;
  const { promise: ended, resolve: end } = Promise.withResolvers<null>();
  const { promise: stuck, resolve: unstick } = Promise.withResolvers<number>();
  const stream: ByteStream = {
    read(buf) {
      reads++;
      const packet = reads === 1 ? connect : reads === 2 ? subscribe : undefined;
      if (packet === undefined) return ended;
      buf.set(packet);
      return Promise.resolve(packet.length);
    },
    write(b) {
      if (seen.written >= READ_BYTES) return stuck.then(() => b.length); // it reads no more
      seen.written += b.length;
      return Promise.resolve(b.length);
    },
    close: () => {
      unstick(0);
      end(null);
    },
    remote: "test:0",
  };
  const finish = () => {
    end(null);
    unstick(0);
  };
  return { stream, seen, finish };
}

Deno.test("a QoS 0 subscriber that stops reading holds its session's receives back", async () => {
  const { api, fetch } = fakeTopicApi("0123456789abcdef0123456789abcdef");
  const client = stuckReader();
  const running = new MqttConnection(fakeContext(fetch), client.stream).run();
  await untilStill(() => api.receives);
  const taken = api.receives;
  client.finish();
  await running;
  assert.ok(client.seen.written >= READ_BYTES, "the client read its first deliveries");
  assert.ok(
    taken < 10,
    `${taken} receives of 256 (${taken * 256} messages) went to a client that reads nothing`,
  );
});
