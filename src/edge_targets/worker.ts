/**
 * The edge gateway's Cloudflare Worker module (bundled by `run.ts` with esbuild; run locally in
 * `workerd`, deployed with wrangler: docs/edge.md).
 *
 * A Worker may not use an I/O object (a WebSocket) made while serving one request while serving
 * another, so the gateway, and its one stream to the cluster, lives in a Durable Object: the
 * Worker hands each request to the object named after the Cloudflare location it came in at
 * (`request.cf.colo`; `local` in workerd), so each location has one gateway instance and one
 * stream, and every request of that location rides it. The object keeps no storage.
 *
 * What is a Worker's own is here, and only here: `WebSocketPair`, a `fetch` that upgrades
 * (outbound WebSockets), the Durable Object binding. Settings are the Worker's vars and secrets
 * (`src/edge/settings.ts`).
 *
 * @module
 */

import type { StreamSocket } from "../client/mod.ts";
import { type AcceptSocket, createGateway, edgeSettings, Upstream } from "../edge/mod.ts";

/** A Worker's WebSocket: the standard one, plus `accept()` for the ends it makes itself. */
interface WorkerSocket {
  accept(): void;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: never) => void): void;
}

declare const WebSocketPair: { new (): { 0: WorkerSocket; 1: WorkerSocket } };

/** The Durable Object namespace binding, as much of it as the Worker uses. */
interface GatewayNamespace {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(request: Request): Promise<Response> };
}

/** The Worker's env: its vars and secrets, and the gateway's namespace. */
type Env = Record<string, unknown> & { readonly EDGE_GATEWAY: GatewayNamespace };

/** The Durable Object holding one gateway instance and its stream. */
export class EdgeGateway {
  readonly #fetch: (request: Request) => Response | Promise<Response>;

  constructor(_state: unknown, env: Env) {
    const settings = edgeSettings(env);
    const upstream = new Upstream({
      urls: settings.upstream,
      ...(settings.token !== undefined ? { token: settings.token } : {}),
      followLeader: settings.followLeader,
      dial: (url) => new UpgradedSocket(url),
      // Requests reach the object one event each; a zero timer fires once those that are
      // ready now have run, so the calls among them leave in one message.
      gather: () => new Promise<void>((resolve) => setTimeout(resolve, 0)),
      log: (event, fields) => console.log(JSON.stringify({ event, ...fields })),
    });
    const gateway = createGateway({
      upstream,
      accept,
      ...(settings.maxBodyBytes !== undefined ? { maxBodyBytes: settings.maxBodyBytes } : {}),
      ...(settings.staleCacheMs !== undefined ? { staleCacheMs: settings.staleCacheMs } : {}),
      ...(settings.corsOrigins !== undefined ? { corsOrigins: settings.corsOrigins } : {}),
    });
    this.#fetch = gateway.fetch;
  }

  fetch(request: Request): Response | Promise<Response> {
    return this.#fetch(request);
  }
}

/**
 * The object's id per location name: derived (hashed) once per isolate, not per request. An id
 * is plain data, which a Worker may keep across requests (a stub is an I/O object: it may not).
 */
const ids = new Map<string, unknown>();

export default {
  fetch(request: Request, env: Env): Promise<Response> {
    const colo = (request as Request & { cf?: { colo?: string } }).cf?.colo ?? "local";
    const namespace = env.EDGE_GATEWAY;
    let id = ids.get(colo);
    if (id === undefined) {
      id = namespace.idFromName(colo);
      // Bounded: one per Cloudflare location (a few hundred), in case the binding ever changes.
      if (ids.size < 1024) ids.set(colo, id);
    }
    return namespace.get(id).fetch(request);
  },
};

/** A Worker accepts a client's WebSocket by answering 101 with one end of a pair. */
const accept: AcceptSocket = () => {
  const pair = new WebSocketPair();
  const server = pair[1];
  server.accept();
  const init = { status: 101, webSocket: pair[0] } as ResponseInit;
  return { socket: server, response: new Response(null, init) };
};

/**
 * An outbound WebSocket the Worker way: a `fetch` with `Upgrade: websocket`, whose answer
 * carries the socket. Shaped as the stream client wants (`onopen` once it is accepted).
 */
class UpgradedSocket implements StreamSocket {
  binaryType = "arraybuffer";
  readyState = 0;
  onopen: ((ev: never) => void) | null = null;
  onmessage: ((ev: { readonly data: unknown }) => void) | null = null;
  onclose: ((ev: { readonly code: number; readonly reason: string }) => void) | null = null;
  onerror: ((ev: never) => void) | null = null;
  #socket: WorkerSocket | undefined;

  constructor(url: string) {
    fetch(url.replace(/^ws/, "http"), { headers: { upgrade: "websocket" } }).then((res) => {
      const socket = (res as Response & { webSocket?: WorkerSocket }).webSocket;
      if (socket === undefined || socket === null) {
        return this.#closed(1006, `no upgrade (${res.status})`);
      }
      if (this.readyState === 3) return socket.close(1000, "closed before open");
      socket.accept();
      this.#socket = socket;
      this.readyState = 1;
      socket.addEventListener("message", (e: { data: unknown }) => this.onmessage?.(e));
      socket.addEventListener("close", (e: { code: number; reason: string }) => {
        // A Worker answers the node's close frame only when told to.
        try {
          socket.close(1000, "closed");
        } catch {
          // Closed already.
        }
        this.#closed(e.code, e.reason);
      });
      socket.addEventListener("error", () => this.#closed(1006, "socket error"));
      this.onopen?.(undefined as never);
    }, (error) => this.#closed(1006, String(error)));
  }

  send(data: Uint8Array): void {
    this.#socket?.send(data);
  }

  close(code = 1000, reason = ""): void {
    if (this.#socket !== undefined && this.readyState === 1) this.#socket.close(code, reason);
    else this.#closed(code, reason);
  }

  #closed(code: number, reason: string): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}
