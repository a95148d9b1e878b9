/**
 * MQTT over WebSocket with a subscriber that stops reading: Deno's WebSocket takes every message
 * sent at once and keeps in memory what the socket has not taken, so a write must not count as
 * done until the socket took most of it, or the session's deliveries pile up in the node without
 * bound (the TCP case holds back on its own: `slow_reader_test.ts`).
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { MqttConnection } from "./connection.ts";
import { fakeContext, fakeTopicApi, untilStill } from "./_testing_gateway.ts";
import { webSocketStream } from "./ws_stream.ts";

/** One WebSocket frame from a client: FIN, binary, masked (RFC 6455 5.2). */
function wsFrame(payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const head = n < 126 ? 2 : 4;
  const out = new Uint8Array(head + 4 + n);
  out[0] = 0x82;
  if (n < 126) out[1] = 0x80 | n;
  else {
    out[1] = 0x80 | 126;
    out[2] = n >> 8;
    out[3] = n & 0xff;
  }
  const mask = [1, 2, 3, 4];
  out.set(mask, head);
  for (let i = 0; i < n; i++) out[head + 4 + i] = payload[i] ^ mask[i & 3];
  return out;
}

Deno.test("MQTT over WebSocket: a QoS 0 subscriber that stops reading holds its receives back", async () => {
  const { api, fetch } = fakeTopicApi("x".repeat(1000));
  const ctx = fakeContext(fetch);
  let running: Promise<void> | undefined;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req, { protocol: "mqtt" });
    socket.onopen = () => {
      running = new MqttConnection(ctx, webSocketStream(socket, "test")).run();
    };
    return response;
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  try {
    await conn.write(new TextEncoder().encode(
      `GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${btoa("0123456789abcdef")}\r\nSec-WebSocket-Version: 13\r\n` +
        `Sec-WebSocket-Protocol: mqtt\r\n\r\n`,
    ));
    await conn.read(new Uint8Array(1024)); // the 101; from here on this client reads nothing
    const connect = mqtt.generate({
      cmd: "connect",
      protocolVersion: 4,
      clientId: "ws-slow",
      clean: true,
      keepalive: 0,
    } as Packet);
    const subscribe = mqtt.generate({
      cmd: "subscribe",
      messageId: 1,
      subscriptions: [{ topic: "slow/#", qos: 0 }],
    } as Packet);
    await conn.write(wsFrame(connect));
    await conn.write(wsFrame(subscribe));
    await untilStill(() => api.receives);
    assert.ok(
      api.receives < 100,
      `${api.receives} receives of 256 (${
        api.receives * 256
      } messages of 1 KB) went to a client that ` +
        "reads nothing",
    );
  } finally {
    conn.close();
    await server.shutdown();
    await running;
  }
});
