/**
 * What the dashboard's routes share: the node it runs on, the in-process API it acts through,
 * sessions, the event ring, and the viewer of each request.
 *
 * @module
 */

import type { Context } from "hono";
import { Client } from "../client/mod.ts";
import type { Authenticator, NodePort } from "../http/mod.ts";
import type { EventRing } from "./events.ts";
import type { PageFrame } from "./layout.tsx";
import type { Sessions, Viewer } from "./session.ts";

/** Options of `createUi`. */
export interface UiOptions {
  readonly node: NodePort;
  /**
   * The node's HTTP API (`createApp(...).fetch`): every change and every linearizable read the
   * dashboard makes goes through it, so it is checked, forwarded and logged like any request.
   */
  readonly api: (request: Request) => Response | Promise<Response>;
  readonly auth?: Authenticator;
  /**
   * With auth off, anonymous viewers may act (the API's anonymous access is open); default true.
   * False: pages show no actions, since the API would refuse them.
   */
  readonly anonymousActs?: boolean;
  readonly events: EventRing;
  /** Between two live updates (Server-Sent Events). Default 1000 ms. */
  readonly liveIntervalMs?: number;
}

export interface UiDeps extends UiOptions {
  readonly sessions: Sessions;
}

export type UiEnv = { Variables: { viewer: Viewer } };
export type UiContext = Context<UiEnv>;

/** The project's client over the in-process API, as this viewer (their token, when auth is on). */
export function clientFor(deps: UiDeps, viewer: Viewer): Client {
  return new Client({
    nodes: ["http://dashboard.internal"],
    ...(viewer.token !== undefined ? { token: viewer.token } : {}),
    fetch: (input, init) => Promise.resolve(deps.api(new Request(input, init))),
    // One client per request: a write session each would fill the replicated session table,
    // so each write carries its own Idempotency-Key instead (as safe for a single call).
    sessions: false,
    // A few quick tries through an election (ids and Idempotency-Keys make retries safe), then
    // the page shows the failure instead of hanging.
    retry: { attempts: 3, totalMs: 5_000 },
  });
}

/** The frame of a page: node, viewer, tab, and the last action's result from the query. */
export function frameOf(c: UiContext, deps: UiDeps, tab: string): PageFrame {
  const done = c.req.query("done");
  const error = c.req.query("error");
  return {
    nodeId: deps.node.nodeId,
    viewer: c.get("viewer"),
    authOn: deps.auth !== undefined,
    tab,
    ...(done ? { done: done.slice(0, 300) } : {}),
    ...(error ? { error: error.slice(0, 300) } : {}),
  };
}
