/**
 * The MQTT listener of a node (`--mqtt-listen`): accepts TCP connections and runs each as an
 * `MqttConnection` over this node's HTTP API. A connection's failure is its own.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { Principal } from "../http/mod.ts";
import type { ApiFetch } from "./broker_api.ts";
import { type ClaimsView, type GatewayContext, MqttConnection } from "./connection.ts";
import { BrokerApi, MQTT_TOPIC } from "./broker_api.ts";
import { takenOver } from "./session.ts";
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
  /** This node's id: its connections hold sessions as `<node id>/<boot id>/<uuid>`. */
  readonly nodeId: string;
  /** This node's replica's claims of the MQTT topic. */
  readonly claims: ClaimsView;
  /** Auth on (`--auth-file`): the principal of an `Authorization` header value. */
  readonly authenticate?: (header: string) => Promise<Principal | undefined>;
  /** Calls `listener` after entries were applied here; returns the unsubscribe. */
  readonly onApplied: (listener: () => void) => () => void;
  /** Refuse every CONNECT with this reason: the node refuses anonymous writes, no auth file. */
  readonly refuseAnonymous?: string;
}

/** How often the claims are looked at even if no change was seen (a restored snapshot). */
const CLAIMS_SWEEP_MS = 5_000;
/** After start, when the sessions this node held before its restart are released. */
const ORPHAN_RELEASE_MS = 3_000;

export interface MqttGateway {
  /** The bound port (useful when 0 was asked for). */
  readonly port: number;
  /** MQTT over WebSocket: upgrades a request to `MQTT_WS_PATH` (subprotocol `mqtt`). */
  handleUpgrade(req: Request): Response;
  close(): Promise<void>;
}

export function startMqttGateway(opts: MqttGatewayOptions): MqttGateway {
  const listener = Deno.listen({ hostname: opts.hostname, port: opts.port, transport: "tcp" });
  const nodePrefix = `${opts.nodeId}/`;
  const ctx = gatewayContext(opts, nodePrefix);
  const stopWatch = watchTakeovers(ctx, opts.onApplied);
  const orphans = setTimeout(() => releaseOrphans(ctx, nodePrefix), ORPHAN_RELEASE_MS);
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
      stopWatch();
      clearTimeout(orphans);
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

/** What every connection of this gateway shares; holders are `<node>/<boot id>/<uuid>`. */
function gatewayContext(opts: MqttGatewayOptions, nodePrefix: string): GatewayContext {
  return {
    fetch: opts.fetch,
    log: opts.log,
    maxPacketBytes: opts.maxPacketBytes,
    live: new Set(),
    holderPrefix: `${nodePrefix}${crypto.randomUUID().slice(0, 8)}/`,
    claims: opts.claims,
    authenticate: opts.authenticate,
    refuseAnonymous: opts.refuseAnonymous,
  };
}

/**
 * Session takeover across nodes: when a claim changes on this replica, a connection here whose
 * session another connection now holds (on this node or any other) is closed (v5: 0x8E).
 */
function watchTakeovers(
  ctx: GatewayContext,
  onApplied: (listener: () => void) => () => void,
): () => void {
  let seen = -1;
  const look = (force: boolean) => {
    const changes = ctx.claims.changes();
    if (!force && changes === seen) return;
    seen = changes;
    for (const conn of ctx.live) {
      const s = conn.session;
      if (s === undefined) continue;
      if (takenOver(ctx.claims.claim(s.key), s)) conn.takeOver();
    }
  };
  const off = onApplied(() => look(false));
  const sweep = setInterval(() => look(true), CLAIMS_SWEEP_MS);
  return () => {
    off();
    clearInterval(sweep);
  };
}

/**
 * Sessions held by connections of this node's earlier run (it was killed: they never released
 * them) are released, so their expiry runs and their wills' sessions can end.
 */
async function releaseOrphans(ctx: GatewayContext, nodePrefix: string): Promise<void> {
  // Auth on: as the gateway itself, allowed to release sessions of the MQTT topic only.
  const gateway: Principal = {
    name: "mqtt-gateway",
    can: (permission, kind, name) =>
      permission === "consume" && kind === "topic" && name === MQTT_TOPIC,
    covers: () => false,
  };
  const api = new BrokerApi(ctx.fetch, ctx.authenticate === undefined ? undefined : gateway);
  for (const { key, holder } of ctx.claims.heldBy(nodePrefix)) {
    if (holder.startsWith(ctx.holderPrefix)) continue;
    const a = await api.write(
      "POST",
      `/v1/topics/${MQTT_TOPIC}/claims/${key}/release`,
      { holder },
    ).catch(() => undefined);
    ctx.log.info("mqtt_orphan_session_released", { key, status: a?.status });
  }
}
