/**
 * The edge gateway's Cloudflare Worker module (bundled by `run.ts` with esbuild; run locally in
 * `workerd`, deployed with wrangler: docs/edge.md).
 *
 * A Worker may not use an I/O object (a WebSocket) made while serving one request while serving
 * another. By default calls are forwarded by the isolate's own gateway over the isolate's one
 * stream, which one request hosts and the others hand their calls to (`worker_host.ts`; each
 * host takes calls for `QUORUMQ_EDGE_HOST_MS`, 20 s by default). What may outlast a host (a
 * Worker's request lives at most 30 s past its answer) goes to a Durable Object, named after the
 * Cloudflare location it came in at (`request.cf.colo`; `local` in workerd), which holds a gateway
 * and a stream of its own (an object's I/O is the object's) and keeps no storage: `/v1/stream`
 * and long polls (`.../receive`). `QUORUMQ_EDGE_HOST_MS=0` sends every call to the object (a hop
 * more per call).
 *
 * What is a Worker's own is here, and only here: `WebSocketPair`, a `fetch` that upgrades
 * (outbound WebSockets), the Durable Object binding. Settings are the Worker's vars and secrets
 * (`src/edge/settings.ts`).
 *
 * @module
 */

import type { StreamSocket } from "../client/mod.ts";
import {
  type AcceptSocket,
  createGateway,
  type EdgeSettings,
  edgeSettings,
  type Gateway,
  Upstream,
} from "../edge/mod.ts";
import { HOST_MS_DEFAULT, type HostContext, IsolateCalls } from "./worker_host.ts";

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

/** An `Upstream` the Worker way (its dialer), trying `first` first when given. */
function workerUpstream(
  settings: EdgeSettings,
  first?: string,
  gather?: () => Promise<void>,
): Upstream {
  const urls = first === undefined
    ? settings.upstream
    : [first, ...settings.upstream.filter((url) => url !== first)];
  return new Upstream({
    urls,
    ...(settings.token !== undefined ? { token: settings.token } : {}),
    followLeader: settings.followLeader,
    dial: (url) => new UpgradedSocket(url),
    ...(gather !== undefined ? { gather } : {}),
    log: (event, fields) => console.log(JSON.stringify({ event, ...fields })),
  });
}

/** The gateway's options that come from the settings alone. */
function gatewaySettings(settings: EdgeSettings) {
  return {
    ...(settings.maxBodyBytes !== undefined ? { maxBodyBytes: settings.maxBodyBytes } : {}),
    ...(settings.staleCacheMs !== undefined ? { staleCacheMs: settings.staleCacheMs } : {}),
    ...(settings.corsOrigins !== undefined ? { corsOrigins: settings.corsOrigins } : {}),
  };
}

/**
 * The Durable Object holding a gateway instance and its stream for what may outlast a request
 * of the Worker: `/v1/stream` and long polls.
 */
export class EdgeGateway {
  readonly #fetch: (request: Request) => Response | Promise<Response>;

  constructor(_state: unknown, env: Env) {
    const settings = edgeSettings(env);
    // Requests reach the object one event each; a zero timer fires once those that are ready
    // now have run, so the calls among them leave in one message.
    const gather = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
    const upstream = workerUpstream(settings, undefined, gather);
    this.#fetch = createGateway({ upstream, accept, ...gatewaySettings(settings) }).fetch;
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

/** The isolate's gateway and its calls' port (plain objects: no I/O object is kept in them). */
let isolate: { gateway: Gateway; calls: IsolateCalls } | undefined;

export default {
  fetch(request: Request, env: Env, ctx: HostContext): Response | Promise<Response> {
    const url = request.url;
    const path = url.slice(url.indexOf("/", url.indexOf("//") + 2)).replace(/\?.*$/, "");
    if (path === "/v1/stream" || path.endsWith("/receive")) return toObject(request, env);
    // `QUORUMQ_EDGE_HOST_MS=0`: every call goes to the Durable Object.
    const hostMs = Number(env.QUORUMQ_EDGE_HOST_MS ?? HOST_MS_DEFAULT);
    if (!(hostMs > 0)) return toObject(request, env);
    if (isolate === undefined) {
      const settings = edgeSettings(env);
      const calls = new IsolateCalls((first) => workerUpstream(settings, first), hostMs);
      isolate = {
        calls,
        gateway: createGateway({ upstream: calls, ...gatewaySettings(settings) }),
      };
    }
    isolate.calls.host(ctx);
    return isolate.gateway.fetch(request);
  },
};

/** Hands a request to the location's Durable Object. */
function toObject(request: Request, env: Env): Promise<Response> {
  const colo = (request as Request & { cf?: { colo?: string } }).cf?.colo ?? "local";
  const namespace = env.EDGE_GATEWAY;
  let id = ids.get(colo);
  if (id === undefined) {
    id = namespace.idFromName(colo);
    // Bounded: one per Cloudflare location (a few hundred), in case the binding ever changes.
    if (ids.size < 1024) ids.set(colo, id);
  }
  return namespace.get(id).fetch(request);
}

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
