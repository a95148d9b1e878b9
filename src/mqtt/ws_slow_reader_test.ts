/**
 * MQTT over WebSocket with a subscriber that stops reading: Deno's WebSocket takes every message
 * sent at once and keeps in memory what the socket has not taken, so a write must not count as
 * done until the socket took most of it, or the session's deliveries pile up in the node without
 * bound (the TCP case holds back on its own: `slow_reader_test.ts`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { MqttConnection } from "./connection.ts";
import { webSocketStream } from "./ws_stream.ts";
import {
  qos0Flood,
  RECEIVES_OFFERED,
  slowSubscriber,
  testContext,
  untilStill,
} from "./_testing_connection.ts";

/** One WebSocket frame from a client: FIN, binary, masked (RFC 6455 5.2; under 64 KiB). */
function wsFrame(payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const head = n < 126 ? 2 : 4;
  const out = new Uint8Array(head + 4 + n);
  out[0] = 0x82;
  out[1] = 0x80 | (n < 126 ? n : 126);
  if (n >= 126) out.set([n >> 8, n & 0xff], 2);
  const mask = [1, 2, 3, 4];
  out.set(mask, head);
  for (let i = 0; i < n; i++) out[head + 4 + i] = payload[i] ^ mask[i & 3];
  return out;
}

const UPGRADE = `GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: ${btoa("0123456789abcdef")}\r\nSec-WebSocket-Version: 13\r\n` +
  `Sec-WebSocket-Protocol: mqtt\r\n\r\n`;

Deno.test("MQTT over WebSocket: a QoS 0 subscriber that stops reading holds its receives back", async () => {
  const { fetch, counter } = qos0Flood(1000);
  let running: Promise<void> | undefined;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req, { protocol: "mqtt" });
    socket.onopen = () => {
      running = new MqttConnection(testContext(fetch), webSocketStream(socket, "test")).run();
    };
    return response;
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  try {
    await conn.write(new TextEncoder().encode(UPGRADE));
    await conn.read(new Uint8Array(1024)); // the 101; from here on this client reads nothing
    for (const p of slowSubscriber("ws-slow")) await conn.write(wsFrame(p));
    const taken = await untilStill(() => counter.receives, RECEIVES_OFFERED);
    assert.ok(
      taken < 100,
      `${taken} receives of 256 (${taken * 256} messages of 1 KB) went to a client that ` +
        "reads nothing",
    );
  } finally {
    conn.close();
    await server.shutdown();
    await running;
  }
});
