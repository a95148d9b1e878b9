/**
 * A stream whose client reads none of its answers is given up. A stream bounds its requests in
 * flight, but an answered request frees its place whether or not the client read the answer, and
 * Deno's WebSocket keeps every message sent in memory until the socket takes it: a client sending
 * without reading (paused, wedged or hostile) would grow the node's memory without bound.
 *
 * @module
 */

import type { Logger } from "../log.ts";

/** The bytes a stream's socket may hold unsent (`bufferedAmount`) before the stream is given up. */
export const BUFFERED_MAX = 64 << 20;

/**
 * Closes `socket` (4008 "client not reading") when more than `BUFFERED_MAX` waits in it; whether
 * it did. Called after each send (a property read, ~44 ns).
 */
export function closedUnread(socket: WebSocket, log: Logger): boolean {
  if (socket.bufferedAmount <= BUFFERED_MAX) return false;
  log.warn("stream_unread", { buffered: socket.bufferedAmount });
  try {
    socket.close(4008, "client not reading");
  } catch {
    // Closed already.
  }
  return true;
}
