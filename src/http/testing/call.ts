/**
 * Test helper: one request through `app.request(...)`, answer parsed.
 *
 * @module
 */

import type { Hono } from "hono";
import { createApp, type CreateAppOptions } from "../app.ts";
import type { AppEnv } from "../context.ts";
import { silentLogger } from "../../log.ts";
import { LocalNode, type LocalNodeOptions } from "./local_node.ts";

/** A parsed answer. */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  /** Parsed JSON, or the text when the body is not JSON, or undefined when empty. */
  // deno-lint-ignore no-explicit-any
  readonly body: any;
}

/** Sends one request; `body` is JSON-encoded unless it is a string or bytes. */
export async function call(
  app: Hono<AppEnv>,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const h = new Headers(headers);
  let payload: BodyInit | undefined;
  if (typeof body === "string" || body instanceof Uint8Array) {
    payload = body as BodyInit;
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
  }
  if (payload !== undefined && !h.has("content-type")) h.set("content-type", "application/json");
  const res = await app.request(path, { method, headers: h, body: payload });
  return await parse(res);
}

/** Reads a Response into an Answer. */
export async function parse(res: Response): Promise<Answer> {
  const text = await res.text();
  let parsed: unknown = text === "" ? undefined : text;
  if (text !== "" && /json/.test(res.headers.get("content-type") ?? "")) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed };
}

/** A local node and an app over it. */
export function localApp(
  nodeOptions: LocalNodeOptions = {},
  appOptions: Partial<CreateAppOptions> = {},
): { node: LocalNode; app: Hono<AppEnv> } {
  const node = new LocalNode(nodeOptions);
  const app = createApp({ node, log: silentLogger, ...appOptions });
  return { node, app };
}
