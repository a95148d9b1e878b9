/**
 * MQTT over WebSocket (subprotocol `mqtt`, for browsers): a WebSocket's binary messages as a
 * `ByteStream`. A message may hold part of a packet or several; the parser does not mind.
 *
 * @module
 */

import type { ByteStream } from "./wire.ts";

/** Most bytes buffered from the peer before reads catch up; beyond, the socket is closed. */
const BUFFERED_MAX = 16 * 1024 * 1024;

/**
 * A write is done once the socket holds at most this much unsent (`bufferedAmount`): Deno's
 * WebSocket takes every message at once and keeps what the socket has not taken in memory, so
 * a client that stops reading would have the node keep all it is sent (the connection's writes
 * are in order, and its deliveries wait for them: `Wire.written`).
 */
const UNSENT_MAX = 1024 * 1024;
/** How often a write looks again while the socket holds more than `UNSENT_MAX`. */
const UNSENT_POLL_MS = 10;

export function webSocketStream(socket: WebSocket, remote: string): ByteStream {
  socket.binaryType = "arraybuffer";
  const chunks: Uint8Array[] = [];
  let buffered = 0;
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  socket.onmessage = (e) => {
    if (!(e.data instanceof ArrayBuffer)) return socket.close(1003, "binary frames only");
    const c = new Uint8Array(e.data);
    chunks.push(c);
    buffered += c.length;
    if (buffered > BUFFERED_MAX) socket.close(1009, "too much unread data");
    notify();
  };
  socket.onclose = () => {
    ended = true;
    notify();
  };
  socket.onerror = () => {
    ended = true;
    notify();
  };
  return {
    async read(buf) {
      while (chunks.length === 0) {
        if (ended) return null;
        await new Promise<void>((r) => wake = r);
      }
      const c = chunks[0];
      const n = Math.min(c.length, buf.length);
      buf.set(c.subarray(0, n));
      if (n === c.length) chunks.shift();
      else chunks[0] = c.subarray(n);
      buffered -= n;
      return n;
    },
    async write(bytes) {
      if (socket.readyState !== WebSocket.OPEN) throw new Error("closed");
      socket.send(bytes.slice());
      // Bounded: a socket that takes nothing for a day is closed.
      for (let i = 0; socket.bufferedAmount > UNSENT_MAX && i < 8_640_000; i++) {
        if (socket.readyState !== WebSocket.OPEN) throw new Error("closed");
        await new Promise((r) => setTimeout(r, UNSENT_POLL_MS));
      }
      if (socket.bufferedAmount > UNSENT_MAX) socket.close(1008, "client not reading");
      return bytes.length;
    },
    close(goingAway) {
      ended = true;
      notify();
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
        // Without a code the client reads 1005 (no status): a shutdown says it is going away.
        if (goingAway) socket.close(1001, "server shutting down");
        else socket.close();
      }
    },
    remote,
  };
}
