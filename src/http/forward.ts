/**
 * Forwarding a write from a follower to the leader over HTTP. The request goes out with the same
 * method, path, query, body and headers (Idempotency-Key and Authorization included) plus a hop
 * header; a node that receives a request carrying the hop header never forwards it again (no
 * loops while leadership moves). The leader's answer is returned as it is.
 *
 * Outcomes, and why (RELIABILITY.md item 7, unknown outcomes):
 * - the leader answered: its status, headers and body, whatever they are;
 * - the connection could not be opened (refused, DNS): nothing was sent, so the write certainly
 *   did not happen: `no_leader` (503, Retry-After) is the truth;
 * - anything after that (reset, timeout, truncated answer): the leader may have applied it:
 *   `unknown_outcome`, never a false success or a false failure.
 *
 * @module
 */

import { ProblemError } from "./problems.ts";

/** The header that marks a forwarded request; its value is the forwarding node's id. */
export const HOP_HEADER = "x-quorumq-forwarded-by";

/** How the app reaches the leader; `fetch` in production, an in-process app in tests. */
export type LeaderFetch = (request: Request) => Response | Promise<Response>;

// Hop-by-hop headers (RFC 9110 §7.6.1) and those the fetch layer recomputes.
const DROP_REQUEST_HEADERS = [
  "connection",
  "keep-alive",
  "host",
  "content-length",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "proxy-authorization",
  "proxy-connection",
  "accept-encoding",
];
const DROP_RESPONSE_HEADERS = [
  "connection",
  "keep-alive",
  "content-length",
  "content-encoding",
  "transfer-encoding",
];

export interface ForwardOptions {
  readonly request: Request;
  /** The body already read (and size-checked) by this node. */
  readonly bodyBytes: Uint8Array;
  readonly leaderUrl: string;
  readonly nodeId: string;
  readonly leaderFetch: LeaderFetch;
  /** Bound on the whole exchange; a long-poll receive adds its `waitMs`. */
  readonly timeoutMs: number;
}

/** Forwards the request to the leader and returns its answer (see the module doc). */
export async function forwardToLeader(options: ForwardOptions): Promise<Response> {
  const { request, bodyBytes, leaderUrl, nodeId } = options;
  const incoming = new URL(request.url);
  const target = new URL(incoming.pathname + incoming.search, leaderUrl);
  const headers = new Headers(request.headers);
  for (const name of DROP_REQUEST_HEADERS) headers.delete(name);
  headers.set(HOP_HEADER, nodeId);
  const hasBody = bodyBytes.byteLength > 0 && request.method !== "GET" &&
    request.method !== "HEAD";
  const outgoing = new Request(target, {
    method: request.method,
    headers,
    body: hasBody ? bodyBytes.slice() : undefined,
    signal: AbortSignal.timeout(options.timeoutMs),
  });
  let answer: Response;
  try {
    answer = await options.leaderFetch(outgoing);
  } catch (error) {
    throw classifyFailure(error, leaderUrl);
  }
  let body: ArrayBuffer;
  try {
    body = await answer.arrayBuffer();
  } catch (error) {
    throw unknown(`The leader's answer was cut off: ${describe(error)}`, leaderUrl);
  }
  const out = new Headers(answer.headers);
  for (const name of DROP_RESPONSE_HEADERS) out.delete(name);
  const bodyless = answer.status === 204 || answer.status === 304;
  return new Response(bodyless ? null : body, {
    status: answer.status,
    statusText: answer.statusText,
    headers: out,
  });
}

function classifyFailure(error: unknown, leaderUrl: string): ProblemError {
  const text = describe(error);
  // Connect-phase failures: the request bytes never left this node.
  if (
    /connection refused|ECONNREFUSED|\(Connect\)|tcp connect error|dns error|failed to lookup/i
      .test(text)
  ) {
    return new ProblemError(
      "no_leader",
      `The leader at ${leaderUrl} cannot be reached (${text}); nothing was sent`,
      { leaderUrl },
    );
  }
  return unknown(`Forwarding to the leader failed after sending: ${text}`, leaderUrl);
}

function unknown(detail: string, leaderUrl: string): ProblemError {
  return new ProblemError("unknown_outcome", detail, { leaderUrl });
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return `${error.name}: ${error.message}${cause}`;
  }
  return String(error);
}
