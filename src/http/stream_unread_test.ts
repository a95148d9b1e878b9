/**
 * A stream client that sends requests and stops reading their answers (a paused or wedged
 * process, or one that means harm) must not make the node buffer answers without bound: Deno's
 * WebSocket keeps every message sent in memory until the socket takes it. Past 64 MiB unsent
 * the node refuses the stream's new requests (`unavailable`), and gives it up (4008) when that
 * does not shrink for 15 s (a client reading a large answer slowly shrinks it: it keeps its
 * stream).
 */
import assert from "node:assert/strict";
import { createApp } from "./mod.ts";
import { LocalNode } from "./testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { encodeStreamFrame, type StreamInFrame } from "./stream_frames.ts";

/** One WebSocket frame from a client: FIN, binary, masked (RFC 6455 5.2). */
function wsFrame(payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = new Uint8Array(head + 4 + n);
  out[0] = 0x82;
  if (n < 126) out[1] = 0x80 | n;
  else if (n < 65536) {
    out[1] = 0x80 | 126;
    out[2] = n >> 8;
    out[3] = n & 0xff;
  } else {
    out[1] = 0x80 | 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(n));
  }
  const mask = [0x12, 0x34, 0x56, 0x78];
  out.set(mask, head);
  for (let i = 0; i < n; i++) out[head + 4 + i] = payload[i] ^ mask[i & 3];
  return out;
}

const frameOf = (f: StreamInFrame) => wsFrame(encodeStreamFrame(f));

Deno.test("a stream whose client reads no answers stops taking requests past 64 MiB unsent, and is given up", async () => {
  const node = new LocalNode();
  const app = createApp({ node, log: silentLogger });
  // The node's side of the stream, to watch what it buffers.
  const upgrade = Deno.upgradeWebSocket;
  let nodeSide: WebSocket | undefined;
  (Deno as { upgradeWebSocket: typeof upgrade }).upgradeWebSocket = (req, opts) => {
    const u = upgrade(req, opts);
    nodeSide = u.socket;
    return u;
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const json = { "content-type": "application/json" };
    const put = await fetch(`${base}/v1/topics/big`, { method: "PUT", headers: json, body: "{}" });
    await put.body?.cancel();
    const pub = await fetch(`${base}/v1/topics/big/messages`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ body: "x".repeat(500_000) }),
    });
    assert.equal(pub.status, 201);
    await pub.body?.cancel();
    const key = btoa("0123456789abcdef");
    await conn.write(new TextEncoder().encode(
      `GET /v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ));
    await conn.read(new Uint8Array(1024)); // the 101; from here on this client reads nothing
    await conn.write(frameOf({ t: "hello" } as StreamInFrame));
    // 400 reads of half a MiB each: 200 MB of answers.
    for (let i = 0; i < 400; i++) {
      await conn.write(frameOf({ t: "req", i, m: "GET", p: "/v1/topics/big/messages?limit=1" }));
    }
    let most = 0;
    for (let i = 0; i < 600 && nodeSide?.readyState === WebSocket.OPEN; i++) {
      most = Math.max(most, nodeSide.bufferedAmount);
      if (most > 150 << 20) break; // the bug: answers pile up in the node
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(nodeSide !== undefined, "the stream opened");
    assert.notEqual(nodeSide.readyState, WebSocket.OPEN, `still open, ${most >> 20} MiB buffered`);
    // 64 MiB, the answers already on their way, and the refusals of the requests after.
    assert.ok(most <= 70 << 20, `${most >> 20} MiB buffered`);
  } finally {
    (Deno as { upgradeWebSocket: typeof upgrade }).upgradeWebSocket = upgrade;
    conn.close();
    await server.shutdown();
  }
});
