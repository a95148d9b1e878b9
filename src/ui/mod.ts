/**
 * The web dashboard every node serves at `/ui`: server-rendered pages (Hono JSX) for the
 * cluster, queues, topics and one queue, live numbers over Server-Sent Events, and forms that
 * act through the node's own HTTP API. No file comes from the internet.
 *
 * ```ts
 * const api = createApp({ node, log, auth });
 * const ui = createUi({ node, api: api.fetch, auth, events });
 * Deno.serve((req) => new URL(req.url).pathname.startsWith("/ui") ? ui.fetch(req) : api.fetch(req));
 * ```
 *
 * @module
 */

import type { UiOptions } from "./context.ts";

export { EventRing, RING_EVENTS } from "./events.ts";
export type { UiOptions } from "./context.ts";

/** True for the paths `createUi` answers. */
export function isUiPath(path: string): boolean {
  return path === "/ui" || path.startsWith("/ui/");
}

/** The dashboard as a handler of `/ui/...` requests. */
export interface UiApp {
  fetch(request: Request): Promise<Response>;
}

/**
 * The dashboard; mount it so that it sees `/ui/...` paths. Its pages, routes and their modules
 * are loaded at its first request: evaluating them cost ~30-50 ms of CPU at every node start
 * (a restart's path, docs/storage.md), for a dashboard no one may open on that node. Nothing of
 * it runs before then (its live updates poll per open page; the node's recent events are kept
 * by the `EventRing` the node makes itself).
 */
export function createUi(options: UiOptions): UiApp {
  let app: Promise<{ fetch(request: Request): Response | Promise<Response> }> | undefined;
  return {
    fetch: async (request) => {
      app ??= import("./ui_app.ts").then((m) => m.buildUi(options));
      return await (await app).fetch(request);
    },
  };
}
