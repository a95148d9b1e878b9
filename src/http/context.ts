/**
 * What every route file shares: the app's dependencies (node, auth, limits, log, forwarding,
 * long polls, clock) and the Hono env type. The pipelines themselves are beside it: writes in
 * `write.ts`, linearizable reads in `read.ts`, permissions in `authorize.ts`, path and query
 * validation in `request.ts`, Idempotency-Key fingerprints in `idempotency.ts`.
 *
 * @module
 */

import type { Context } from "hono";
import type { Logger } from "../log.ts";
import type { Authenticator, Principal } from "./auth.ts";
import type { AnonymousAccess } from "./authorize.ts";
import type { GatewayAuth } from "./gateway_proof.ts";
import type { Drain } from "./drain.ts";
import type { LeaderFetch } from "./forward.ts";
import type { LongPollHub } from "./long_poll.ts";
import type { NodePort } from "./node_port.ts";

/** Limits and timeouts of the HTTP layer. */
export interface HttpLimits {
  /** Largest request body; more: 413 while reading. Default 1 MiB. */
  readonly maxBodyBytes: number;
  /** How long a proposal may take to apply before `unknown_outcome`. Default 10 000. */
  readonly proposeTimeoutMs: number;
  /** How long a read barrier may take before 503. Default 5 000. */
  readonly readTimeoutMs: number;
  /** Bound on forwarding one request to the leader (a long poll adds its waitMs). */
  readonly forwardTimeoutMs: number;
  /**
   * How often a stream opened with `?ping=1` must say something (its client pings when idle);
   * silent for 3 such periods, it is closed (stream_liveness.ts). Default 10 000.
   */
  readonly streamPingMs: number;
}

/** Defaults for `HttpLimits`. */
export const DEFAULT_LIMITS: HttpLimits = {
  maxBodyBytes: 1 << 20,
  proposeTimeoutMs: 10_000,
  readTimeoutMs: 5_000,
  forwardTimeoutMs: 15_000,
  streamPingMs: 10_000,
};

/** The dependencies of the app, built once by `createApp`. */
export interface AppDeps {
  readonly node: NodePort;
  readonly auth: Authenticator | undefined;
  /** Auth on: requests of the node's gateways, proven with the cluster secret (MQTT). */
  readonly gatewayAuth: GatewayAuth | undefined;
  /** With auth off: what callers without a token may do (`authorize.ts`). */
  readonly anonymous: AnonymousAccess;
  /** `/metrics` is served without a token (`--metrics-public`). */
  readonly metricsPublic: boolean;
  readonly limits: HttpLimits;
  readonly log: Logger;
  readonly leaderFetch: LeaderFetch;
  readonly longPoll: LongPollHub;
  /** Fired when the node begins to shut down (`drain.ts`). */
  readonly drain: Drain;
  /** Clock for long-poll deadlines. */
  readonly nowMs: () => number;
}

/** Hono env of every route: the authenticated principal, when auth is on. */
export type AppEnv = { Variables: { principal: Principal | undefined } };

export type AppContext = Context<AppEnv>;
