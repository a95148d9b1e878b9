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

/** How long close() waits for the DISCONNECT packets to be written before it cuts. */
const SHUTDOWN_WRITE_MS = 500;

/** The path of MQTT over WebSocket on the HTTP listener. */
export const MQTT_WS_PATH = "/mqtt";

export interface MqttGatewayOptions {
  readonly hostname: string;
  readonly port: number;
  /** This node's HTTP handler: every MQTT action is a request to it. */
  readonly fetch: ApiFetch;
  readonly log: Logger;
  /** The largest packet accepted; a larger one closes its connection (0x95). */
  readonly maxPacketBytes: number;
  /** Refuse every CONNECT with this reason: the node refuses anonymous writes, no auth file. */
  readonly refuseAnonymous?: string;
}

export interface MqttGateway {
  /** The bound port (useful when 0 was asked for). */
  readonly port: number;
  /** MQTT over WebSocket: upgrades a request to `MQTT_WS_PATH` (subprotocol `mqtt`). */
  handleUpgrade(req: Request): Response;
  close(): Promise<void>;
}

export function startMqttGateway(opts: MqttGatewayOptions): MqttGateway {
  const listener = Deno.listen({ hostname: opts.hostname, port: opts.port, transport: "tcp" });
  const ctx: GatewayContext = {
    fetch: opts.fetch,
    log: opts.log,
    maxPacketBytes: opts.maxPacketBytes,
    refuseAnonymous: opts.refuseAnonymous,
    live: new Map(),
  };
  const conns = new Set<Deno.Conn>();
  /** Every live MQTT connection, TCP and WebSocket: each is told when the node shuts down. */
  const sessions = new Set<MqttConnection>();
  const run = (connection: MqttConnection) => {
    sessions.add(connection);
    return connection.run().finally(() => sessions.delete(connection));
  };
  const accepting = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        const tcp = await listener.accept();
        // Deno.listen leaves Nagle on (Deno.serve turns it off): without this a PUBACK or a
        // delivery right after another waits up to 40 ms for a delayed ACK (docs/transport.md).
        tcp.setNoDelay(true);
        conn = tcp;
      } catch {
        return; // the listener was closed
      }
      conns.add(conn);
      run(new MqttConnection(ctx, tcpStream(conn)))
        .catch((e) => opts.log.warn("mqtt_connection_error", { error: String(e) }))
        .finally(() => conns.delete(conn));
    }
  })();
  const port = (listener.addr as Deno.NetAddr).port;
  opts.log.info("mqtt_listening", { hostname: opts.hostname, port });
  return {
    port,
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
        run(new MqttConnection(ctx, webSocketStream(socket, "websocket")))
          .catch((e) => opts.log.warn("mqtt_connection_error", { error: String(e) }));
      };
      return response;
    },
    async close() {
      listener.close();
      // v5 clients learn why (DISCONNECT 0x8B) and reconnect elsewhere; v3.1.1 has no
      // server DISCONNECT, the connection just closes.
      const told = Promise.all([...sessions].map((s) => s.shutDown()));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const bound = new Promise((r) => timer = setTimeout(r, SHUTDOWN_WRITE_MS));
      await Promise.race([told, bound]);
      clearTimeout(timer);
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await accepting;
    },
  };
}
