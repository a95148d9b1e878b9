/**
 * The node's one HTTP listener (API, stream, dashboard, `/mqtt`, the peer paths), plain or TLS,
 * with a certificate that can be replaced while the node runs.
 *
 * `Deno.serve` cannot swap its certificate, so `replaceTls` stops the running server and starts a
 * new one on the same port with the new certificate; the Raft node, its outbound links and every
 * other part of the node keep running. What a reload does to connections (measured in
 * `test/e2e/tls_reload_test.ts`, and by hand with a request loop: 1 of ~1,100 connections
 * refused in one reload):
 * - HTTP requests in flight on the old server finish (its `shutdown` waits for them);
 * - WebSockets on the old server (peer links dialed to this node, the forwarding channel, streams,
 *   MQTT over WebSocket) are closed with 1001 by `Deno.serve`'s shutdown; their dialers reconnect
 *   at once, to the new server;
 * - between the old socket's close and the new bind (a millisecond), a new connection is refused;
 *   clients and dialers retry. (`SO_REUSEPORT` would close that gap, but `Deno.serve` allows it
 *   with TLS only behind `--unstable-net`, and it would let a second process bind the same port.)
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { ListenerTls } from "./tls.ts";

type Handler = (req: Request) => Response | Promise<Response>;

/** How long a reload keeps trying to bind the port again before it gives up. */
const REBIND_MS = 5_000;

export class NodeListener {
  #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #draining = new Set<Promise<void>>();
  readonly port: number;
  #closed = false;

  constructor(
    private readonly hostname: string,
    port: number,
    tls: ListenerTls | undefined,
    private readonly handler: Handler,
    private readonly log: Logger,
  ) {
    this.#server = this.#serve(port, tls);
    this.port = this.#server.addr.port;
  }

  get secure(): boolean {
    return this.#secure;
  }

  #secure = false;

  #serve(port: number, tls: ListenerTls | undefined): Deno.HttpServer<Deno.NetAddr> {
    this.#secure = tls !== undefined;
    return Deno.serve({
      hostname: this.hostname,
      port,
      onListen: () => {},
      ...(tls === undefined ? {} : { cert: tls.cert, key: tls.key }),
    }, this.handler);
  }

  /**
   * Serves with `tls` from now on: the old server stops accepting and finishes its requests, a new
   * one takes the port. Throws if the port cannot be bound again within `REBIND_MS` (another
   * process took it in the gap): the node has no listener then, and says so.
   */
  async replaceTls(tls: ListenerTls): Promise<void> {
    if (this.#closed) return;
    const old = this.#server;
    const drained = old.shutdown().catch(() => {});
    this.#draining.add(drained);
    void drained.finally(() => this.#draining.delete(drained));
    const deadline = Date.now() + REBIND_MS;
    for (let attempt = 0;; attempt++) {
      try {
        this.#server = this.#serve(this.port, tls);
        this.log.info("listener_reloaded", { port: this.port, attempts: attempt + 1 });
        return;
      } catch (error) {
        if (!(error instanceof Deno.errors.AddrInUse) || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(50, 1 + attempt)));
      }
    }
  }

  /** Stops accepting, lets requests in flight finish. */
  async shutdown(): Promise<void> {
    this.#closed = true;
    await Promise.all([this.#server.shutdown(), ...this.#draining]);
  }
}
