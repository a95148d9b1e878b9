/**
 * The MQTT listener of a node (`--mqtt-listen`): accepts TCP connections and runs each as an
 * `MqttConnection` over this node's HTTP API. A connection's failure is its own.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { Principal } from "../http/mod.ts";
import type { ApiFetch } from "./broker_api.ts";
import { MqttConnection } from "./connection.ts";
import type { ClaimsView, GatewayContext } from "./gateway_context.ts";
import { watchOrphans, watchTakeovers } from "./takeover.ts";
import { tcpStream } from "./wire.ts";
import { webSocketStream } from "./ws_stream.ts";

/** How long close() waits for the DISCONNECT packets to be written before it cuts. */
const SHUTDOWN_WRITE_MS = 500;

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
  /**
   * The node API's body limit (`--max-body-bytes`): a connection's PUBLISHes that gathered into
   * a batch publish go as several when its JSON would pass it.
   */
  readonly maxBodyBytes: number;
  /**
   * A Unix socket to accept on as well: MQTT over TLS (`--mqtt-tls-listen`) arrives there from
   * the node's TLS front (src/server/tls_front.ts), decrypted.
   */
  readonly unixPath?: string;
  /** Refuse every CONNECT with this reason: the node refuses anonymous writes, no auth file. */
  readonly refuseAnonymous?: string;
  /** This node's id: its connections hold sessions as `<node id>/<boot id>/<uuid>`. */
  readonly nodeId: string;
  /** This node's replica's claims of the MQTT topic. */
  readonly claims: ClaimsView;
  /** Auth on (`--auth-file`): the principal of an `Authorization` header value. */
  readonly authenticate?: (header: string) => Promise<Principal | undefined>;
  /** Calls `listener` after entries were applied here; returns the unsubscribe. */
  readonly onApplied: (listener: () => void) => () => void;
  /** Entry time on this node now (docs/broker.md): a delivery's message expiry left. */
  readonly entryTimeMs: () => number;
}

export interface MqttGateway {
  /** The bound port (useful when 0 was asked for), when the plain listener is on. */
  readonly port: number | undefined;
  /** MQTT over WebSocket: upgrades a request to `MQTT_WS_PATH` (subprotocol `mqtt`). */
  handleUpgrade(req: Request): Response;
  close(): Promise<void>;
}

export function startMqttGateway(opts: MqttGatewayOptions): MqttGateway {
  const nodePrefix = `${opts.nodeId}/`;
  const ctx = gatewayContext(opts, nodePrefix);
  const stopWatch = watchTakeovers(ctx, opts.onApplied);
  const stopOrphans = watchOrphans(ctx, nodePrefix);
  const acceptor = new Acceptor(ctx);
  const listener = opts.plain === undefined
    ? undefined
    : Deno.listen({ hostname: opts.plain.hostname, port: opts.plain.port, transport: "tcp" });
  const port = listener === undefined ? undefined : (listener.addr as Deno.NetAddr).port;
  if (listener !== undefined) {
    acceptor.accept(listener);
    opts.log.info("mqtt_listening", { hostname: opts.plain!.hostname, port });
  }
  const unix = opts.unixPath === undefined
    ? undefined
    : Deno.listen({ path: opts.unixPath, transport: "unix" });
  if (unix !== undefined) acceptor.accept(unix);
  return {
    port,
    handleUpgrade: (req) => upgrade(req, ctx, acceptor),
    async close() {
      stopWatch();
      stopOrphans();
      listener?.close();
      unix?.close();
      await acceptor.close();
    },
  };
}

/** What every connection of this gateway shares; holders are `<node>/<boot id>/<uuid>`. */
function gatewayContext(opts: MqttGatewayOptions, nodePrefix: string): GatewayContext {
  return {
    fetch: opts.fetch,
    log: opts.log,
    maxPacketBytes: opts.maxPacketBytes,
    maxBodyBytes: opts.maxBodyBytes,
    live: new Map(),
    holderPrefix: `${nodePrefix}${crypto.randomUUID().slice(0, 8)}/`,
    claims: opts.claims,
    entryTimeMs: opts.entryTimeMs,
    authenticate: opts.authenticate,
    refuseAnonymous: opts.refuseAnonymous,
  };
}

/** Runs an `MqttConnection` on every connection the listeners given to `accept` accept. */
class Acceptor {
  readonly #conns = new Set<Deno.Conn>();
  readonly #loops = new Set<Promise<void>>();
  /** Every live MQTT connection, TCP and WebSocket: each is told when the node shuts down. */
  readonly #sessions = new Set<MqttConnection>();

  /** The gateway is shutting down: what comes in now is turned away, not left unclosed. */
  closing = false;

  constructor(private readonly ctx: GatewayContext) {}

  run(connection: MqttConnection): Promise<void> {
    if (this.closing) return connection.shutDown();
    this.#sessions.add(connection);
    return connection.run().finally(() => this.#sessions.delete(connection));
  }

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
      // (A Unix connection has no Nagle; the TLS front sets it on its own sockets.)
      if (conn.remoteAddr.transport === "tcp") (conn as Deno.TcpConn).setNoDelay(true);
      this.#conns.add(conn);
      this.run(new MqttConnection(this.ctx, tcpStream(conn)))
        .catch((e) => this.ctx.log.warn("mqtt_connection_error", { error: String(e) }))
        .finally(() => this.#conns.delete(conn));
    }
  }

  /** Closes every connection; resolves when every accept loop has ended. */
  async close(): Promise<void> {
    this.closing = true;
    // v5 clients learn why (DISCONNECT 0x8B) and reconnect elsewhere; v3.1.1 has no
    // server DISCONNECT, the connection just closes.
    const told = Promise.all([...this.#sessions].map((s) => s.shutDown()));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise((r) => timer = setTimeout(r, SHUTDOWN_WRITE_MS));
    await Promise.race([told, bound]);
    clearTimeout(timer);
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

/** MQTT over WebSocket: upgrades a request to `MQTT_WS_PATH` (subprotocol `mqtt`). */
function upgrade(req: Request, ctx: GatewayContext, acceptor: Acceptor): Response {
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response("MQTT over WebSocket only\n", { status: 426 });
  }
  // Stopping (the node's HTTP listener closes last): the client moves to another node now.
  if (acceptor.closing) return new Response("MQTT gateway shutting down\n", { status: 503 });
  const offered = (req.headers.get("sec-websocket-protocol") ?? "").split(",")
    .map((p) => p.trim());
  const { socket, response } = Deno.upgradeWebSocket(
    req,
    offered.includes("mqtt") ? { protocol: "mqtt" } : {},
  );
  socket.onopen = () => {
    acceptor.run(new MqttConnection(ctx, webSocketStream(socket, "websocket")))
      .catch((e) => ctx.log.warn("mqtt_connection_error", { error: String(e) }));
  };
  return response;
}
