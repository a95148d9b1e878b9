/**
 * The dashboard's app: its routes, pages and checks, loaded by `createUi` (mod.ts) at the
 * dashboard's first request. Folder-private.
 *
 * @module
 */

import { Hono, type MiddlewareHandler } from "hono";
import { problemResponse } from "../http/mod.ts";
import { QuorumqError } from "../client/mod.ts";
import type { UiDeps, UiEnv, UiOptions } from "./context.ts";
import { liveRoutes } from "./live.ts";
import { actionRoutes, formOf } from "./routes_actions.ts";
import { pageRoutes } from "./routes_pages.tsx";
import { Sessions } from "./session.ts";
import { staticRoutes } from "./static.ts";

/** Builds the dashboard app; it sees `/ui/...` paths (`createUi` loads this module for it). */
export function buildUi(options: UiOptions): Hono<UiEnv> {
  const deps: UiDeps = {
    ...options,
    sessions: new Sessions(options.auth, options.anonymousActs ?? true),
  };
  const ui = new Hono<UiEnv>();
  ui.use("*", securityHeaders());
  ui.use("*", viewerMiddleware(deps));
  ui.use("*", csrfGuard(deps));
  staticRoutes(ui);
  liveRoutes(ui, deps);
  pageRoutes(ui, deps);
  actionRoutes(ui, deps);
  ui.onError((error, c) => {
    // A page whose data the API could not give (no leader during an election, a timeout):
    // say so, instead of a bare 500.
    const status = error instanceof QuorumqError && error.status >= 500 ? 503 : 500;
    const text = error instanceof QuorumqError ? error.message : "An unexpected error occurred";
    return c.html(errorPage(text), status);
  });
  const app = new Hono<UiEnv>();
  app.route("/ui", ui);
  return app;
}

/** A minimal page for a failed page load; the message is escaped. */
function errorPage(message: string): string {
  const escaped = message.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>quorumq</title>` +
    `<link rel="stylesheet" href="/ui/static/ui.css"></head><body><main>` +
    `<p class="notice err" role="alert">${escaped}</p><p><a href="">Try again</a> · ` +
    `<a href="/ui/cluster">Cluster</a></p></main></body></html>`;
}

/** Pages run only this node's scripts and cannot be framed (clickjacking). */
function securityHeaders(): MiddlewareHandler<UiEnv> {
  return async (c, next) => {
    await next();
    c.res.headers.set(
      "content-security-policy",
      "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    c.res.headers.set("x-content-type-options", "nosniff");
    c.res.headers.set("referrer-policy", "same-origin");
  };
}

/** Resolves the viewer; with auth on and no valid token, pages go to the login form. */
function viewerMiddleware(deps: UiDeps): MiddlewareHandler<UiEnv> {
  return async (c, next) => {
    const viewer = await deps.sessions.viewer(c);
    c.set("viewer", viewer);
    const open = c.req.path === "/ui/login" || c.req.path.startsWith("/ui/static/");
    if (viewer.needsLogin && !open) {
      if (c.req.method !== "GET") {
        return problemResponse("unauthorized", "Log in to the dashboard first");
      }
      const next = c.req.path + (new URL(c.req.url).search);
      return c.redirect(`/ui/login?next=${encodeURIComponent(next)}`);
    }
    return await next();
  };
}

/**
 * Every POST must carry this session's `_csrf` value and, when the browser says where it comes
 * from (`Origin`), come from this very origin. A forged cross-site post fails both.
 */
function csrfGuard(deps: UiDeps): MiddlewareHandler<UiEnv> {
  return async (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD") return await next();
    const origin = c.req.header("origin");
    const sameOrigin = origin === undefined || sameHost(origin, c.req.header("host"));
    const form = await formOf(c).catch(() => ({} as Record<string, unknown>));
    if (!sameOrigin || !(await deps.sessions.checkCsrf(c, form._csrf))) {
      return problemResponse(
        "forbidden",
        "The form did not come from this dashboard (CSRF check failed); reload the page",
      );
    }
    return await next();
  };
}

/** `Origin` names the host the page was served from (a proxy may rewrite the URL, not Host). */
function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}
