/**
 * Permission checks of the routes: with auth on, the request's principal must hold the
 * permission on the queue or topic (or on the cluster); off, everything is allowed.
 *
 * @module
 */

import type { Permission, ResourceKind } from "./auth.ts";
import type { AppContext, AppDeps } from "./context.ts";
import { ProblemError } from "./problems.ts";

/** Throws 403 unless the principal (when auth is on) holds `permission` on the resource. */
export function authorize(
  c: AppContext,
  deps: AppDeps,
  permission: Permission,
  kind?: ResourceKind,
  name?: string,
): void {
  if (deps.auth === undefined) return;
  const principal = c.get("principal");
  if (principal === undefined) {
    throw new ProblemError("unauthorized", "A bearer token is required");
  }
  if (!principal.can(permission, kind, name)) {
    const what = name === undefined ? "the cluster" : `${kind} ${name}`;
    throw new ProblemError("forbidden", `Token ${principal.name} may not ${permission} on ${what}`);
  }
}

/** Reading a queue or topic needs any permission on it. */
export function authorizeRead(
  c: AppContext,
  deps: AppDeps,
  kind: ResourceKind,
  name: string,
): void {
  if (deps.auth === undefined) return;
  const principal = c.get("principal");
  if (principal?.can("consume", kind, name) || principal?.can("publish", kind, name)) return;
  authorize(c, deps, "admin", kind, name);
}
