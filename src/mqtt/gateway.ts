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
  const conns = new Set<Deno.Conn>();
  const loops: Promise<void>[] = [];
  const accept = (listener: Deno.Listener) => {
    loops.push((async () => {
      for (;;) {
        let conn: Deno.Conn;
        try {
          conn = await listener.accept();
        } catch {
          return; // the listener was closed
        }
        // Deno.listen leaves Nagle on (Deno.serve turns it off): without this a PUBACK or a
        // delivery right after another waits up to 40 ms for a delayed ACK (docs/transport.md).
        // Deno's TlsConn has no setNoDelay (docs/tls.md: what is left).
        if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
        conns.add(conn);
        new MqttConnection(ctx, tcpStream(conn)).run()
          .catch((e) => opts.log.warn("mqtt_connection_error", { error: String(e) }))
          .finally(() => conns.delete(conn));
      }
    })());
  };
  const listener = opts.plain === undefined
    ? undefined
    : Deno.listen({ hostname: opts.plain.hostname, port: opts.plain.port, transport: "tcp" });
  const port = listener === undefined ? undefined : (listener.addr as Deno.NetAddr).port;
  if (listener !== undefined) {
    accept(listener);
    opts.log.info("mqtt_listening", { hostname: opts.plain!.hostname, port });
  }
  let tlsListener: Deno.TlsListener | undefined;
  const listenTls = (port: number, cert: string, key: string) => {
    const l = Deno.listenTls({ hostname: opts.tls!.hostname, port, cert, key, transport: "tcp" });
    accept(l);
    return l;
  };
  if (opts.tls !== undefined) {
    tlsListener = listenTls(opts.tls.port, opts.tls.cert, opts.tls.key);
    opts.log.info("mqtt_tls_listening", {
      hostname: opts.tls.hostname,
      port: (tlsListener.addr as Deno.NetAddr).port,
    });
  }
  const tlsPort = tlsListener === undefined ? undefined : (tlsListener.addr as Deno.NetAddr).port;
  let closed = false;
  return {
    port,
    tlsPort,
    async replaceTls(tls) {
      if (tlsListener === undefined || tlsPort === undefined || closed) return;
      tlsListener.close();
      const deadline = Date.now() + 5_000;
      for (let attempt = 0;; attempt++) {
        try {
          tlsListener = listenTls(tlsPort, tls.cert, tls.key);
          opts.log.info("mqtt_tls_reloaded", { port: tlsPort });
          return;
        } catch (error) {
          if (!(error instanceof Deno.errors.AddrInUse) || Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, Math.min(50, 1 + attempt)));
        }
      }
    },
    handleUpgrade(req) {
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
          .catch((e) => opts.log.warn("mqtt_connection_error", { error: String(e) }));
      };
      return response;
    },
    async close() {
      closed = true;
      listener?.close();
      try {
        tlsListener?.close();
      } catch {
        // closed by a reload that failed
      }
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await Promise.all(loops);
    },
  };
}
