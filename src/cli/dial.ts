/**
 * The stream's socket for `mq`: the nodes' own RFC 6455 client over `Deno.connect` /
 * `Deno.connectTls` with TCP_NODELAY set (`cluster/transport/dial.ts`), not Deno's `WebSocket`,
 * which clears TCP_NODELAY on the sockets it dials (strace: `setsockopt(TCP_NODELAY, 0)`). With
 * Nagle's algorithm on, a small request written while the previous one is not acknowledged yet
 * waits for the node's delayed ACK (40 ms): `Client.publish` with 4 calls in flight ran at 76–80/s,
 * p50 47–48 ms, and at 755–1,076/s, p50 2.6–3.5 ms, with this dialer; 16 in flight 270–283/s
 * against 1,064–3,730/s (`test/bench/nodelay_bench.ts`, 3 fsync nodes, load 12–16).
 *
 * @module
 */

import { dialWebSocket } from "../../cluster/transport/mod.ts";
import type { StreamDial, StreamSocket } from "../client/mod.ts";

/** Dials the stream with TCP_NODELAY, trusting `caPem` (a private CA) besides the system's. */
export function noDelayDial(caPem?: string): StreamDial {
  return (url) =>
    dialWebSocket(url, caPem === undefined ? {} : { caCerts: [caPem] }) as unknown as StreamSocket;
}
