/**
 * Permission checks of the routes: with auth on, the request's principal must hold the
 * permission on the queue or topic (or on the cluster). With auth off, what a caller without a
 * token may do is the node's `AnonymousAccess`: everything in the open mode (one node on
 * loopback, or `--allow-anonymous`), reads only otherwise.
 *
 * @module
 */

import type { Answer } from "./answer.ts";
import type { Authenticator, Permission, Principal, ResourceKind } from "./auth.ts";
import type { Call } from "./call.ts";
import type { AppDeps } from "./context.ts";
import { problemAnswer, ProblemError } from "./problems.ts";

/**
 * What callers without a token may do when the node has no auth file. `open`: everything.
 * Otherwise reads only, and `why` is the refusal's detail: it names the flag to add.
 */
export type AnonymousAccess =
  | { readonly open: true }
  | { readonly open: false; readonly why: string };

/** The embedded default of `createApp`: no auth file, everything open. */
export const OPEN_ACCESS: AnonymousAccess = { open: true };

/**
 * Throws 401/403 unless the caller may do `permission` on the resource: with auth on, its
 * principal holds the permission; with auth off, anonymous access is open.
 */
export function authorize(
  call: Call,
  deps: AppDeps,
  permission: Permission,
  kind?: ResourceKind,
  name?: string,
): void {
  if (deps.auth === undefined) {
    // Reads (peek, a subscription, a topic's log) stay open; admin reads (the cluster) do not.
    const read = call.method === "GET" || call.method === "HEAD";
    if (permission === "admin" || !read) refuseAnonymous(deps);
    return;
  }
  const principal = call.principal;
  if (principal === undefined) {
    throw new ProblemError("unauthorized", "A bearer token is required");
  }
  if (!principal.can(permission, kind, name)) {
    const what = name === undefined ? "the cluster" : `${kind} ${name}`;
    throw new ProblemError("forbidden", `Token ${principal.name} may not ${permission} on ${what}`);
  }
}

/** Throws 403 `anonymous_refused` when auth is off and anonymous callers may only read. */
export function refuseAnonymous(deps: AppDeps): void {
  if (deps.auth !== undefined || deps.anonymous.open) return;
  throw new ProblemError("anonymous_refused", deps.anonymous.why);
}

/** Reading a queue or topic needs any permission on it; with auth off anyone may read. */
export function authorizeRead(
  call: Call,
  deps: AppDeps,
  kind: ResourceKind,
  name: string,
): void {
  if (deps.auth === undefined) return;
  const principal = call.principal;
  if (principal?.can("consume", kind, name) || principal?.can("publish", kind, name)) return;
  authorize(call, deps, "admin", kind, name);
}

/**
 * With auth on, the caller of a request with `authorization` (its header): its principal, or the
 * 401 answer when the token is missing or not valid.
 */
export async function bearerPrincipal(
  auth: Authenticator,
  authorization: string | undefined,
): Promise<{ readonly principal: Principal } | { readonly refused: Answer }> {
  const principal = await auth.authenticate(authorization ?? null);
  if (principal !== undefined) return { principal };
  const refused = problemAnswer(
    "unauthorized",
    authorization !== undefined ? "The bearer token is not valid" : "A bearer token is required",
    {},
    { "www-authenticate": 'Bearer realm="quorumq"' },
  );
  return { refused };
}
