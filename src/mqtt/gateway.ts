/**
 * The MQTT listener of a node (`--mqtt-listen`): accepts TCP connections and runs each as an
 * `MqttConnection` over this node's HTTP API. A connection's failure is its own.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { ApiFetch } from "./broker_api.ts";
import { type GatewayContext, MqttConnection } from "./connection.ts";
import { tcpStream } from "./wire.ts";
import { webSocketStream } from "./ws_stream.ts";

/** The path of MQTT over WebSocket on the HTTP listener. */
export const MQTT_WS_PATH = "/mqtt";

export interface MqttGatewayOptions {
  /** The plain MQTT listener (`--mqtt-listen`); with neither it nor `tls`, only `/mqtt` serves. */
  readonly plain?: { readonly hostname: string; readonly port: number };
  /** This node's HTTP handler: every MQTT action is a request to it. */
  readonly fetch: ApiFetch;
  readonly log: Logger;
  /** The largest packet accepted; a larger one closes its connection (0x95). */
  readonly maxPacketBytes: number;
  /** MQTT over TLS on a listener of its own (`--mqtt-tls-listen`), with this certificate. */
  readonly tls?: {
    readonly hostname: string;
    readonly port: number;
    readonly cert: string;
    readonly key: string;
  };
}

export interface MqttGateway {
  /** The bound port (useful when 0 was asked for), when the plain listener is on. */
  readonly port: number | undefined;
  /** The bound port of MQTT over TLS, when it is on. */
  readonly tlsPort: number | undefined;
  /**
   * New TLS connections get this certificate: the TLS listener is closed and bound again on its
   * port (connections already accepted keep going; one arriving in the gap is refused).
   */
  replaceTls(tls: { readonly cert: string; readonly key: string }): Promise<void>;
  /** MQTT over WebSocket: upgrades a request to `MQTT_WS_PATH` (subprotocol `mqtt`). */
  handleUpgrade(req: Request): Response;
  close(): Promise<void>;
}

export function startMqttGateway(opts: MqttGatewayOptions): MqttGateway {
  const ctx: GatewayContext = {
    fetch: opts.fetch,
    log: opts.log,
    maxPacketBytes: opts.maxPacketBytes,
    live: new Map(),
  };
  const acceptor = new Acceptor(ctx);
  const listener = opts.plain === undefined
    ? undefined
    : Deno.listen({ hostname: opts.plain.hostname, port: opts.plain.port, transport: "tcp" });
  const port = listener === undefined ? undefined : (listener.addr as Deno.NetAddr).port;
  if (listener !== undefined) {
    acceptor.accept(listener);
    opts.log.info("mqtt_listening", { hostname: opts.plain!.hostname, port });
  }
  const tls = opts.tls === undefined ? undefined : new TlsListener(opts.tls, acceptor, opts.log);
  return {
    port,
    tlsPort: tls?.port,
    replaceTls: async (next) => await tls?.replace(next),
    handleUpgrade: (req) => upgrade(req, ctx),
    async close() {
      listener?.close();
      tls?.close();
      await acceptor.close();
    },
  };
}

/** Runs an `MqttConnection` on every connection the listeners given to `accept` accept. */
class Acceptor {
  readonly #conns = new Set<Deno.Conn>();
  readonly #loops = new Set<Promise<void>>();

  constructor(private readonly ctx: GatewayContext) {}

  accept(listener: Deno.Listener): void {
    const loop = this.#run(listener);
    this.#loops.add(loop);
    void loop.finally(() => this.#loops.delete(loop));
  }

  async #run(listener: Deno.Listener): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return; // the listener was closed
      }
      // Deno.listen leaves Nagle on (Deno.serve turns it off): without this a PUBACK or a
      // delivery right after another waits up to 40 ms for a delayed ACK (docs/transport.md).
      // Deno's TlsConn has no setNoDelay (docs/tls.md, "Left").
      if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
      this.#conns.add(conn);
      new MqttConnection(this.ctx, tcpStream(conn)).run()
        .catch((e) => this.ctx.log.warn("mqtt_connection_error", { error: String(e) }))
        .finally(() => this.#conns.delete(conn));
    }
  }

  /** Closes every connection; resolves when every accept loop has ended. */
  async close(): Promise<void> {
    for (const c of this.#conns) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
    await Promise.all([...this.#loops]);
  }
}

/**
 * MQTT over TLS (`--mqtt-tls-listen`). `Deno.listenTls` cannot swap its certificate, so a reload
 * closes the listener and binds the port again: connections already accepted keep going (closing
 * a listener closes no connection), one arriving in the gap of a millisecond is refused.
 */
class TlsListener {
  #listener: Deno.TlsListener;
  readonly port: number;
  #closed = false;

  constructor(
    private readonly opts: NonNullable<MqttGatewayOptions["tls"]>,
    private readonly acceptor: Acceptor,
    private readonly log: Logger,
  ) {
    this.#listener = this.#listen(opts.port, opts);
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    log.info("mqtt_tls_listening", { hostname: opts.hostname, port: this.port });
  }

  #listen(port: number, tls: { readonly cert: string; readonly key: string }): Deno.TlsListener {
    const l = Deno.listenTls({ hostname: this.opts.hostname, port, ...tls, transport: "tcp" });
    this.acceptor.accept(l);
    return l;
  }

  async replace(tls: { readonly cert: string; readonly key: string }): Promise<void> {
    if (this.#closed) return;
    this.#listener.close();
    const deadline = Date.now() + 5_000;
    for (let attempt = 0;; attempt++) {
      try {
        this.#listener = this.#listen(this.port, { cert: tls.cert, key: tls.key });
        this.log.info("mqtt_tls_reloaded", { port: this.port });
        return;
      } catch (error) {
        if (!(error instanceof Deno.errors.AddrInUse) || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(50, 1 + attempt)));
      }
    }
  }

  close(): void {
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // closed by a reload that failed to bind again
    }
  }
}

/** MQTT over WebSocket: upgrades a request to `MQTT_WS_PATH` (subprotocol `mqtt`). */
function upgrade(req: Request, ctx: GatewayContext): Response {
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response("MQTT over WebSocket only\n", { status: 426 });
  }
  const offered = (req.headers.get("sec-websocket-protocol") ?? "").split(",")
    .map((p) => p.trim());
  const { socket, response } = Deno.upgradeWebSocket(
    req,
    offered.includes("mqtt") ? { protocol: "mqtt" } : {},
  );
  socket.onopen = () => {
    new MqttConnection(ctx, webSocketStream(socket, "websocket")).run()
      .catch((e) => ctx.log.warn("mqtt_connection_error", { error: String(e) }));
  };
  return response;
}
