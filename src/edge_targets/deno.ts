/**
 * The edge gateway's Deno entry (Deno Deploy, or any Deno): `Deno.serve` with the portable
 * gateway of `src/edge`. Settings come from the environment (`src/edge/settings.ts`):
 *
 * ```sh
 * QUORUMQ_UPSTREAM=https://n1.example:8080,https://n2.example:8080 \
 *   QUORUMQ_EDGE_TOKEN=... deno run --allow-net --allow-env src/edge_targets/deno.ts
 * ```
 *
 * Locally, `deno task edge --runtime deno` runs it (`run.ts`). What is Deno's own is here, and
 * only here: the server, the WebSocket upgrade, and the dialer of upstreams, which sets
 * TCP_NODELAY (Deno's `WebSocket` client clears it: `cluster/transport/dial.ts`) and, for
 * `wss://`, trusts the CA in `QUORUMQ_EDGE_CA_FILE` (PEM) besides the system's.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { dialWebSocket } from "../../cluster/transport/mod.ts";
import type { StreamSocket } from "../client/mod.ts";
import { createGateway, type EdgeSettings, edgeSettings, Upstream } from "../edge/mod.ts";
import { forgetRequestHeaders } from "./deno_request.ts";

/** Options of `serveEdge`. */
export interface ServeEdgeOptions {
  readonly settings: EdgeSettings;
  readonly hostname?: string;
  /** 0: any free port. Default 8787. */
  readonly port?: number;
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
  /** PEM certificates a `wss://` upstream may chain to, besides the system's. */
  readonly caCerts?: readonly string[];
}

/** Serves the gateway; resolves once it listens, with its URL and a stop function. */
export function serveEdge(
  options: ServeEdgeOptions,
): { url: string; upstream: Upstream; stop: () => Promise<void> } {
  const s = options.settings;
  const upstream = new Upstream({
    urls: s.upstream,
    ...(s.token !== undefined ? { token: s.token } : {}),
    followLeader: s.followLeader,
    dial: (url) =>
      dialWebSocket(
        url,
        options.caCerts ? { caCerts: options.caCerts } : {},
      ) as unknown as StreamSocket,
    // Deno's server hands over one request per turn of its event loop; the immediate phase
    // comes after the turn's I/O, so the calls that arrived in it leave in one message.
    gather: () => new Promise<void>((resolve) => setImmediate(resolve)),
    ...(options.log ? { log: options.log } : {}),
  });
  const gateway = createGateway({
    upstream,
    accept: (request) => {
      const { socket, response } = Deno.upgradeWebSocket(request);
      socket.binaryType = "arraybuffer";
      return { socket, response };
    },
    ...(s.maxBodyBytes !== undefined ? { maxBodyBytes: s.maxBodyBytes } : {}),
    ...(s.staleCacheMs !== undefined ? { staleCacheMs: s.staleCacheMs } : {}),
    ...(s.corsOrigins !== undefined ? { corsOrigins: s.corsOrigins } : {}),
  });
  const server = Deno.serve({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 8787,
    onListen: () => {},
  }, (request) => {
    const answer = gateway.fetch(request);
    // The gateway has read every header it needs by now (before its first await): the server
    // need not copy them all when the answer is set (deno_request.ts).
    forgetRequestHeaders(request);
    return answer;
  });
  const host = server.addr.hostname.includes(":")
    ? `[${server.addr.hostname}]`
    : server.addr.hostname;
  return {
    url: `http://${host}:${server.addr.port}`,
    upstream,
    stop: async () => {
      await upstream.stop();
      await server.shutdown();
    },
  };
}

if (import.meta.main) {
  const settings = edgeSettings(Deno.env.toObject());
  const port = Number(Deno.env.get("PORT") ?? "8787");
  const hostname = Deno.env.get("QUORUMQ_EDGE_HOST") ?? "0.0.0.0";
  const caFile = Deno.env.get("QUORUMQ_EDGE_CA_FILE");
  const { url } = serveEdge({
    settings,
    hostname,
    port,
    ...(caFile ? { caCerts: [await Deno.readTextFile(caFile)] } : {}),
    log: (event, fields) => console.log(JSON.stringify({ event, ...fields })),
  });
  console.log(JSON.stringify({ event: "edge_listening", url, upstream: settings.upstream }));
}
