/**
 * How the MQTT gateway's requests reach this node's API in process (`ApiFetch`). Its hot ones
 * (publish, a subscription's receive and ack: `DirectRoutes`) run on the routes' shared handlers
 * from plain values, with no `Request`, `Response` or body stream; the rest, and any the direct
 * path cannot take as they are (`NodeApp.inProcess`), go through the app as an in-process
 * `Request`. Both carry the same principal, headers and body text, so either way the request is
 * judged by the same rules, and a follower forwards it to the leader with the same token and
 * gateway proof. A body given as its value (`SizedBody`: the gateway's batch publishes) goes to
 * the direct path as it is (`BodyValue`, the same handler then reads it without parsing text
 * back), and as its text wherever text is needed (through the app; the proof, with auth on).
 *
 * @module
 */

import {
  answerTextOf,
  GATEWAY_PROOF_HEADER,
  type GatewayAuth,
  inProcessRequest,
  type NodeApp,
} from "../http/mod.ts";
import type { ApiFetch, ApiRequest } from "../mqtt/mod.ts";

/** What the gateway's fetch runs on. */
export interface GatewayFetchOptions {
  /** The node's app (`createApp(...).fetch`). */
  readonly fetch: (request: Request) => Response | Promise<Response>;
  /** Its direct routes for in-process callers; undefined: every request goes through `fetch`. */
  readonly inProcess: NodeApp["inProcess"] | undefined;
  readonly gatewayAuth: GatewayAuth | undefined;
}

/** The origin of the gateway's requests (in process: no socket, never resolved). */
const ORIGIN = "http://mqtt.gateway";

/** A signal for requests with none: nothing ends them early. */
const NEVER = new AbortController().signal;

/** The gateway's `ApiFetch` over `o` (see the module doc). */
export function gatewayFetch(o: GatewayFetchOptions): ApiFetch {
  const { gatewayAuth } = o;
  return async (r) => {
    const path = r.path;
    // Auth on, the gateway's proof signs the body's text: a body value goes as its text.
    const proven = gatewayAuth !== undefined && (r.principal !== undefined || r.asGateway === true);
    const value = proven ? undefined : r.value;
    const text = r.text ??
      (r.value !== undefined && proven ? JSON.stringify(r.value.json) : undefined);
    const headers = headersOf(r, text, gatewayAuth);
    const request = () => {
      const init = { method: r.method, headers: new Headers(headers), ...signalOf(r) };
      const body = text ?? (value === undefined ? undefined : JSON.stringify(value.json));
      return inProcessRequest(`${ORIGIN}${path}`, init, body, r.principal);
    };
    const direct = o.inProcess?.(
      r.method,
      path,
      r.principal,
      headers,
      text ?? value,
      r.signal ?? NEVER,
      request,
    );
    if (direct !== undefined) {
      const outcome = await direct;
      // As it is: a batch publish's count (`published`) is read, its text only if asked for.
      if (!(outcome instanceof Response)) return outcome;
      return { status: outcome.status, text: await answerTextOf(outcome) };
    }
    const res = await o.fetch(request());
    return { status: res.status, text: await answerTextOf(res) };
  };
}

function signalOf(r: ApiRequest): { signal?: AbortSignal } {
  return r.signal === undefined ? {} : { signal: r.signal };
}

/**
 * The request's headers by lower-case name: with auth on, what the leader needs when this node
 * forwards it, the token and the gateway's proof of the request (path, token, body).
 */
function headersOf(
  r: ApiRequest,
  text: string | undefined,
  gatewayAuth: GatewayAuth | undefined,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name in r.headers) headers[name.toLowerCase()] = r.headers[name];
  if (gatewayAuth !== undefined && (r.principal !== undefined || r.asGateway === true)) {
    if (r.authorization !== undefined) headers.authorization = r.authorization;
    // The path as the leader's app reads it from the forwarded request's URL.
    const url = new URL(`${ORIGIN}${r.path}`);
    const signed = url.pathname + url.search;
    headers[GATEWAY_PROOF_HEADER] = gatewayAuth.proof.sign(
      r.method,
      signed,
      r.authorization,
      text ?? "",
    );
  }
  return headers;
}
