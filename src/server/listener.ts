/**
 * The node's one HTTP listener (API, stream, dashboard, `/mqtt`, the peer paths), plain or TLS.
 *
 * Plain: `Deno.serve` on `--listen`. TLS: `Deno.serve` on a private Unix socket behind a
 * `TlsFront` on `--listen` (tls_front.ts says why: TCP_NODELAY, and certificates that change
 * without closing a connection). Requests through the front arrive as `http+unix://host/...`;
 * the handler sees them as `https://host/...`, which is what the client asked for, so origins,
 * same-origin checks and secure cookies hold.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { TlsFront } from "./tls_front.ts";
import type { ListenerTls } from "./tls.ts";

/**
 * Whether the path of `url` (absolute, as `Deno.serve` gives it) starts with `/v1/` and holds
 * nothing a URL parse would rewrite (`.` segments, `%` escapes, `\`): then it is none of the
 * listener's own paths, whatever the parse would say.
 */
export function isPlainApiPath(url: string): boolean {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start < 0 || !url.startsWith("/v1/", start)) return false;
  for (let i = start; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 0x3f || c === 0x23) return true; // `?`, `#`: the path ends
    if (c === 0x2e || c === 0x25 || c === 0x5c) return false; // `.`, `%`, `\`
  }
  return true;
}

type Handler = (req: Request) => Response | Promise<Response>;

export class NodeListener {
  readonly #server: Deno.HttpServer;
  readonly #front: TlsFront | undefined;
  readonly #socketPath: string | undefined;

  private constructor(
    readonly port: number,
    readonly secure: boolean,
    server: Deno.HttpServer,
    front: TlsFront | undefined,
    socketPath: string | undefined,
  ) {
    this.#server = server;
    this.#front = front;
    this.#socketPath = socketPath;
  }

  static async start(
    hostname: string,
    port: number,
    tls: ListenerTls | undefined,
    handler: Handler,
    log: Logger,
    /** With TLS: where the inner socket goes (`privateSocketDir`). */
    socketDir: string | undefined,
  ): Promise<NodeListener> {
    if (tls === undefined) {
      const server = Deno.serve({ hostname, port, onListen: () => {} }, handler);
      return new NodeListener(server.addr.port, false, server, undefined, undefined);
    }
    if (socketDir === undefined) throw new Error("a TLS listener needs its socket directory");
    const innerPath = `${socketDir}/http.sock`;
    const server = Deno.serve({ path: innerPath, onListen: () => {} }, (req) => {
      if (req.url.startsWith("http+unix://")) {
        // An own property shadows Request's getter; the object stays the one Deno.serve made,
        // which `Deno.upgradeWebSocket` needs.
        Object.defineProperty(req, "url", { value: "https://" + req.url.slice(12) });
      }
      return handler(req);
    });
    let front: TlsFront;
    try {
      front = await TlsFront.start({ hostname, port, ...tls, innerPath, log, name: "http" });
    } catch (error) {
      await server.shutdown();
      await Deno.remove(innerPath).catch(() => {});
      throw error;
    }
    return new NodeListener(front.port, true, server, front, innerPath);
  }

  /** New connections get `tls`; open ones (WebSockets included) keep going. */
  replaceTls(tls: ListenerTls): void {
    this.#front?.replace(tls.cert, tls.key);
  }

  /** Stops accepting, lets requests in flight finish. */
  async shutdown(): Promise<void> {
    this.#front?.stopAccepting();
    await this.#server.shutdown();
    this.#front?.destroyAll();
    if (this.#socketPath !== undefined) await Deno.remove(this.#socketPath).catch(() => {});
  }
}
