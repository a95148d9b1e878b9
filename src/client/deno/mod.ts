/**
 * The stream's socket in Deno: the nodes' own RFC 6455 client over `Deno.connect` /
 * `Deno.startTls` with TCP_NODELAY set (`cluster/transport/dial.ts`, the one the peer links use),
 * not Deno's `WebSocket`, which clears TCP_NODELAY on the sockets it dials. The client loads this
 * module by itself when it runs in Deno and no `dial` is given (`../default_dial.ts`: it takes
 * `defaultDenoDial()`); a Deno program passes `noDelayDial(caPem)` as its `dial` to trust a private
 * CA (`mq --ca` does).
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
 * besides the system's store when given. It connects directly, whatever proxy is configured.
 */
export function noDelayDial(caPem?: string): StreamDial {
  const options = caPem === undefined ? {} : { caCerts: [caPem] };
  return (url) => dialWebSocket(url, options) as unknown as StreamSocket;
}

/**
 * The client's default in Deno: `noDelayDial()`, except for a URL that Deno's `WebSocket` would
 * reach through a proxy (`proxied`), which it dials as before, so a proxy set in the environment
 * is still used. `env` reads a variable, undefined when unset or not readable without asking.
 */
export function defaultDenoDial(
  env: (name: string) => string | undefined = readableEnv,
): StreamDial {
  const direct = noDelayDial();
  return (url) =>
    proxied(new URL(url), env) ? new WebSocket(url) as unknown as StreamSocket : direct(url);
}

/**
 * Whether Deno's `WebSocket` may send `url` through a proxy: a proxy variable for its scheme is
 * set (`HTTP_PROXY` for `ws:`, `HTTPS_PROXY` for `wss:`, or `ALL_PROXY`; either case, as Deno
 * reads them) and `NO_PROXY` does not plainly exempt its host (`*`, the host, or a domain it is
 * in). A `NO_PROXY` entry read otherwise (a CIDR range) counts as no exemption: the `WebSocket`
 * then decides by itself, which is what it did before.
 */
export function proxied(url: URL, env: (name: string) => string | undefined): boolean {
  const get = (name: string) => env(name) || env(name.toLowerCase()) || undefined;
  const proxy = get(url.protocol === "wss:" ? "HTTPS_PROXY" : "HTTP_PROXY") ?? get("ALL_PROXY");
  if (proxy === undefined) return false;
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  const exempt = (get("NO_PROXY") ?? "").split(",").map((e) => e.trim().toLowerCase())
    .filter((e) => e !== "")
    .some((e) => {
      const domain = e.replace(/^\*?\./, "");
      return e === "*" || host === domain || host.endsWith(`.${domain}`);
    });
  return !exempt;
}

/** `Deno.env.get` for a variable this program may read without a prompt, else undefined. */
function readableEnv(name: string): string | undefined {
  const state = Deno.permissions.querySync({ name: "env", variable: name }).state;
  return state === "granted" ? Deno.env.get(name) : undefined;
}
