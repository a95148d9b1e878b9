/**
 * MQTT over WebSocket (subprotocol `mqtt`, for browsers): a WebSocket's binary messages as a
 * `ByteStream`. A message may hold part of a packet or several; the parser does not mind.
 *
 * @module
 */

import type { ByteStream } from "./wire.ts";

/** Most bytes buffered from the peer before reads catch up; beyond, the socket is closed. */
const BUFFERED_MAX = 16 * 1024 * 1024;

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
    write(bytes) {
      if (socket.readyState !== WebSocket.OPEN) return Promise.reject(new Error("closed"));
      socket.send(bytes.slice());
      return Promise.resolve(bytes.length);
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
