/**
 * The stream's socket in Deno: the nodes' own RFC 6455 client over `Deno.connect` /
 * `Deno.startTls` with TCP_NODELAY set (`cluster/transport/dial.ts`, the one the peer links use),
 * not Deno's `WebSocket`, which clears TCP_NODELAY on the sockets it dials. The client loads this
 * module by itself when it runs in Deno and no `dial` is given (`../default_dial.ts`); a Deno
 * program passes `noDelayDial(caPem)` as its `dial` to trust a private CA (`mq --ca` does).
 *
 * It names Deno's API, so it is outside the portable client: the npm build compiles only the
 * files of `src/client` itself, and nothing imports this module statically but Deno programs.
 *
 * ```ts
 * import { Client } from "./src/client/mod.ts";
 * import { noDelayDial } from "./src/client/deno/mod.ts";
 * const caPem = await Deno.readTextFile("ca.pem");
 * const client = new Client({ nodes: ["https://10.0.0.1:8080"], dial: noDelayDial(caPem) });
 * ```
 *
 * @module
 */

// dial.ts itself, not cluster/transport/mod.ts: the links' transport (msgpackr and the rest)
// is no client's business, and this module's graph stays free of npm packages.
import { dialWebSocket } from "../../../cluster/transport/dial.ts";
import type { StreamDial, StreamSocket } from "../mod.ts";

/**
 * Dials the stream with TCP_NODELAY; a `wss:` URL is checked against `caPem` (a private CA, PEM)
 * besides the system's store when given.
 */
export function noDelayDial(caPem?: string): StreamDial {
  const options = caPem === undefined ? {} : { caCerts: [caPem] };
  return (url) => dialWebSocket(url, options) as unknown as StreamSocket;
}
