/**
 * Validation of a request's path parameters and query string with the route's zod schema; a
 * failure is an `invalid_request` problem naming each field (the body: `body.ts`).
 *
 * @module
 */

import { z } from "zod";
import { validate } from "./body.ts";
import type { AppContext } from "./context.ts";
import type { Call } from "./call.ts";

/** Validated path parameters. */
export function params<S extends Parameters<typeof validate>[0]>(c: AppContext, schema: S) {
  return validate(schema, c.req.param(), "params");
}

const emptyQuery = z.strictObject({});

/** Writes take no query parameters: an unknown one is an `invalid_request` naming it. */
export function noQuery(call: Call): void {
  // Without a `?` the query is empty: no parsing.
  if (!call.hasQuery) return;
  validate(emptyQuery, call.query(), "query");
}

/** Validated query. */
export function query<S extends Parameters<typeof validate>[0]>(c: AppContext, schema: S) {
  return validate(schema, c.req.query(), "query");
}
