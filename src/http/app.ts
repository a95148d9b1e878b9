/**
 * `createApp`: the Hono app of HTTP API v1 for one node. Wire it with
 * `Deno.serve({ hostname, port }, createApp({ node, log, limits, auth }).fetch)`.
 *
 * Every answer that is not a success is an `application/problem+json` from `problems.ts`:
 * validation and expected failures are thrown as `ProblemError`; anything else thrown is a bug,
 * logged with its stack and answered 500 `internal_error`.
 *
 * @module
 */

import { type ErrorHandler, Hono, type MiddlewareHandler, type NotFoundHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { Logger } from "../log.ts";
import type { Authenticator, Principal } from "./auth.ts";
import { GATEWAY_PROOF_HEADER, type GatewayAuth } from "./gateway_proof.ts";
import { type AnonymousAccess, bearerPrincipal, OPEN_ACCESS } from "./authorize.ts";
import { type AppDeps, type AppEnv, DEFAULT_LIMITS, type HttpLimits } from "./context.ts";
import { type LeaderFetch, requestLeaderFetch } from "./forward.ts";
import { Drain } from "./drain.ts";
import { DirectRoutes, errorAnswer, shutdownAnswer } from "./direct.ts";
import { responseOf } from "./render.ts";
import { LongPollHub } from "./long_poll.ts";
import { HttpMetrics } from "./metrics.ts";
import type { NodePort } from "./node_port.ts";
import { problemResponse } from "./problems.ts";
import type { FaultControl } from "../../cluster/transport/mod.ts";
import { clusterRoutes } from "./routes_cluster.ts";
import { faultRoutes } from "./routes_faults.ts";
import { opsRoutes } from "./routes_ops.ts";
import { queueRoutes } from "./routes_queues.ts";
import { queueAdminRoutes } from "./routes_queue_admin.ts";
import { topicRoutes } from "./routes_topics.ts";
import { transactionRoutes } from "./routes_transactions.ts";
import { idempotencyKeyRoutes, sessionRoutes } from "./routes_sessions.ts";
import { STREAM_PATH, streamRoute } from "./stream_route.ts";
import { inProcessRequestText, isInProcess, streamPrincipals } from "./in_process.ts";
import { readBodyBytes } from "./body.ts";
import { corsMiddleware } from "./cors.ts";

/** Options of `createApp`. */
export interface CreateAppOptions {
  readonly node: NodePort;
  /** Bearer-token auth (`loadAuthenticator(text)`); absent: auth off. */
  readonly auth?: Authenticator;
  /**
   * With auth off, what callers without a token may do; default open (the single-node
   * quickstart). `src/server/access.ts` decides it for a node from its flags.
   */
  readonly anonymous?: AnonymousAccess;
  /** `/metrics` without a token (`--metrics-public`); default false (the open mode serves it). */
  readonly metricsPublic?: boolean;
  readonly limits?: Partial<HttpLimits>;
  readonly log: Logger;
  /** How to reach the leader when forwarding; default `fetch`. */
  readonly leaderFetch?: LeaderFetch;
  /**
   * The clock of long-poll deadlines (ms); default `performance.now` (monotonic, so a wall-clock
   * step neither cuts a wait short nor stretches it). Broker times use `node.entryTimeMs()`.
   */
  readonly nowMs?: () => number;
  /**
   * The transport's fault seam (`--test-faults` only): mounts `/v1/admin/faults`. Never in
   * production; the route is not in `/openapi.json`.
   */
  readonly faults?: FaultControl;
  /**
   * Origins whose browser apps may call `/v1/*` (`--cors-origin`); `*` allows any. Absent or
   * empty: no CORS headers, so browsers keep other origins out. Tokens travel in the
   * `Authorization` header, never in cookies, so credentials mode is off.
   */
  readonly corsOrigins?: readonly string[];
  /** The node's shutdown switch (`drain.ts`); default one that never fires. */
  readonly drain?: Drain;
  /** Auth on: requests of the node's gateways, proven with the cluster secret (MQTT). */
  readonly gatewayAuth?: GatewayAuth;
}

/** Paths answered without a token even when auth is on (probes and the API description). */
const PUBLIC_PATHS = new Set(["/healthz", "/readyz", "/openapi.json"]);

/** Public too with `--metrics-public`. */
const METRICS_PATH = "/metrics";

/**
 * The app, and how the leader's end of the forwarding channel (`forwarded`) and an in-process
 * caller such as the MQTT gateway (`inProcess`) run a request on its direct routes without a
 * `Request` (`DirectRoutes`; undefined: run it through `fetch`).
 */
export type NodeApp = Hono<AppEnv> & {
  readonly forwarded: DirectRoutes["forwarded"];
  /** An in-process caller's request on a direct route (`DirectRoutes.inProcess`). */
  readonly inProcess: DirectRoutes["inProcess"];
};

/** Builds the app. */
export function createApp(options: CreateAppOptions): NodeApp {
  const nowMs = options.nowMs ?? (() => performance.now());
  const deps: AppDeps = {
    node: options.node,
    auth: options.auth,
    gatewayAuth: options.gatewayAuth,
    anonymous: options.anonymous ?? OPEN_ACCESS,
    metricsPublic: options.metricsPublic ?? false,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    log: options.log,
    leaderFetch: options.leaderFetch ?? requestLeaderFetch((request) => fetch(request)),
    longPoll: new LongPollHub((listener) => options.node.onApplied(listener), nowMs),
    drain: options.drain ?? new Drain(),
    nowMs,
  };
  deps.drain.signal.addEventListener("abort", () => deps.longPoll.close(), { once: true });
  const metrics = new HttpMetrics();
  const app = new Hono<AppEnv>();
  app.use("*", metricsMiddleware(metrics));
  app.use("*", drainMiddleware(deps));
  if (options.corsOrigins !== undefined && options.corsOrigins.length > 0) {
    // Before auth: a preflight carries no token and must be answered.
    const cors = corsMiddleware(options.corsOrigins);
    // Not for in-process requests (the stream's, the MQTT gateway's): no browser reads their
    // answers, whose bodies are then never built (`jsonAnswer`); CORS would rebuild each answer
    // from its body. A preflight (OPTIONS) is answered as over HTTP, whoever sends it.
    app.use(
      "/v1/*",
      (c, next) => isInProcess(c.req.raw) && c.req.method !== "OPTIONS" ? next() : cors(c, next),
    );
  }
  app.use("*", authMiddleware(deps));
  // Stream requests run through this same app (`app.fetch`): one set of routes and rules.
  // Its hot requests (publish, receive, settle) go straight to the routes' handlers (`direct.ts`).
  const cors = options.corsOrigins !== undefined && options.corsOrigins.length > 0;
  const direct = new DirectRoutes(deps, metrics, cors);
  app.get(
    STREAM_PATH,
    streamRoute(
      deps,
      { fetch: async (request) => await app.fetch(request), direct },
      options.corsOrigins,
    ),
  );
  app.route("/v1/queues", queueRoutes(deps));
  app.route("/v1/queues", queueAdminRoutes(deps));
  app.route("/v1/topics", topicRoutes(deps));
  app.route("/v1/transactions", transactionRoutes(deps));
  app.route("/v1/sessions", sessionRoutes(deps));
  app.route("/v1/idempotency-keys", idempotencyKeyRoutes(deps));
  app.route("/v1/cluster", clusterRoutes(deps));
  app.route("/", opsRoutes(deps, metrics));
  if (options.faults !== undefined) {
    app.route("/v1/admin/faults", faultRoutes(deps, options.faults));
  }
  app.notFound(notFoundHandler(allowedMethods(app)));
  app.onError(errorHandler(deps));
  // The hot routes from the network skip the router and middlewares too (`direct.ts`).
  const routed = app.fetch;
  app.fetch = (request, env, ctx) => direct.serve(request) ?? routed(request, env, ctx);
  return Object.assign(app, {
    forwarded: direct.forwarded.bind(direct) as DirectRoutes["forwarded"],
    inProcess: direct.inProcess.bind(direct) as DirectRoutes["inProcess"],
  });
}

/** Records the latency of every request under its route pattern (never the raw path). */
function metricsMiddleware(metrics: HttpMetrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const route = matchedRoutes(c).filter((r) => r.method !== "ALL").at(-1)?.path ?? "unmatched";
    metrics.observe(c.req.method, route, c.res.status, (performance.now() - started) / 1000);
  };
}

/**
 * While the node shuts down: new requests get 503 with `Connection: close` (the client moves to
 * another node), except `/healthz` (the process is alive); `/readyz` is refused like the rest.
 */
function drainMiddleware(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!deps.drain.draining || c.req.path === "/healthz") return await next();
    return responseOf(shutdownAnswer(), false);
  };
}

/** With auth on, resolves the bearer token to a principal, or answers 401. */
function authMiddleware(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set("principal", undefined);
    const streamed = streamPrincipals.get(c.req.raw);
    if (streamed !== undefined) {
      // A request from a stream that authenticated its caller when it opened.
      c.set("principal", streamed);
      return await next();
    }
    // The stream authenticates when it opens (header or hello frame): stream_route.ts.
    if (c.req.path === STREAM_PATH) return await next();
    const proof = c.req.header(GATEWAY_PROOF_HEADER);
    if (deps.auth !== undefined && proof !== undefined) {
      // A gateway's request forwarded by a follower (gateway_proof.ts).
      const principal = await provenPrincipal(deps, c.req.raw, proof);
      if (principal === undefined) {
        return problemResponse("unauthorized", "The gateway proof is not valid");
      }
      c.set("principal", principal);
      return await next();
    }
    const isPublic = PUBLIC_PATHS.has(c.req.path) ||
      (deps.metricsPublic && c.req.path === METRICS_PATH);
    if (deps.auth !== undefined && !isPublic) {
      const who = await bearerPrincipal(deps.auth, c.req.header("authorization"));
      if ("refused" in who) return responseOf(who.refused, false);
      c.set("principal", who.principal);
    }
    return await next();
  };
}

/** The principal of a request that carries a gateway proof; undefined when it is not valid. */
async function provenPrincipal(
  deps: AppDeps,
  request: Request,
  proof: string,
): Promise<Principal | undefined> {
  const gateway = deps.gatewayAuth;
  if (gateway === undefined) return undefined;
  const url = new URL(request.url);
  const path = url.pathname + url.search;
  const authorization = request.headers.get("authorization") ?? undefined;
  // The body is covered too: read from a copy (the route reads the request's own), bounded.
  const body = inProcessRequestText.get(request) ??
    await readBodyBytes(request.clone(), deps.limits.maxBodyBytes);
  if (!gateway.proof.verify(request.method, path, authorization, body, proof)) return undefined;
  return await gateway.principal(request.method, path, authorization);
}

/** 405 with `Allow` when the path exists with other methods, else 404 `not_found`. */
function notFoundHandler(allowed: (path: string) => string[]): NotFoundHandler<AppEnv> {
  return (c) => {
    const methods = allowed(c.req.path);
    if (methods.length > 0) {
      return problemResponse(
        "method_not_allowed",
        `${c.req.method} is not allowed on ${c.req.path}; allowed: ${methods.join(", ")}`,
        {},
        { allow: methods.join(", ") },
      );
    }
    return problemResponse("not_found", `No route for ${c.req.method} ${c.req.path}`);
  };
}

/** `ProblemError` → its problem; anything else is a bug: logged with its stack, 500. */
function errorHandler(deps: AppDeps): ErrorHandler<AppEnv> {
  return (error, c) => responseOf(errorAnswer(deps, c.req.method, c.req.path, error), false);
}

/** For a path, the methods some route accepts (405 vs 404). */
function allowedMethods(app: Hono<AppEnv>): (path: string) => string[] {
  const routes = app.routes
    .filter((r) => r.method !== "ALL")
    .map((r) => ({
      method: r.method,
      regex: new RegExp(
        "^" + r.path.replace(/\/$/, "").replace(/:[A-Za-z0-9_]+/g, "[^/]+").replace(/\*/g, ".*") +
          "/?$",
      ),
    }));
  return (path) => {
    const methods = new Set<string>();
    for (const r of routes) if (r.regex.test(path)) methods.add(r.method);
    if (methods.has("GET")) methods.add("HEAD");
    return [...methods].sort();
  };
}
