/**
 * Forwarding a write from a follower to the leader over HTTP. The request goes out with the same
 * method, path, query, body and headers (Idempotency-Key and Authorization included) plus a hop
 * header; a node that receives a request carrying the hop header never forwards it again (no
 * loops while leadership moves). The leader's answer is returned as it is.
 *
 * Outcomes, and why (docs/reliability.md item 7, unknown outcomes):
 * - the leader answered: its status, headers and body, whatever they are;
 * - the connection could not be opened (refused, DNS): nothing was sent, so the write certainly
 *   did not happen: `no_leader` (503, Retry-After) is the truth;
 * - anything after that (reset, timeout, truncated answer): the leader may have applied it:
 *   `unknown_outcome`, never a false success or a false failure.
 *
 * @module
 */

import { Deadlines, type Pending } from "../client/deadlines.ts";
import { hasBodyStatus, jsonTextResponse } from "./fast_response.ts";
import { ProblemError } from "./problems.ts";

/** The header that marks a forwarded request; its value is the forwarding node's id. */
export const HOP_HEADER = "x-quorumq-forwarded-by";

/** A write on its way to the leader: built once, carried by whatever `LeaderFetch` is. */
export interface ForwardedRequest {
  /** The leader's advertised base URL. */
  readonly leaderUrl: string;
  /** Path and query, as the client sent them. */
  readonly path: string;
  readonly method: string;
  readonly headers: [string, string][];
  readonly body: Uint8Array<ArrayBuffer> | undefined;
  /** Aborts at the forwarding deadline. */
  readonly signal: AbortSignal;
}

/** The leader's whole answer. */
export interface LeaderAnswer {
  readonly status: number;
  readonly headers: Iterable<[string, string]>;
  readonly body: Uint8Array<ArrayBuffer>;
}

/**
 * How the app reaches the leader: the forwarding channel in production (src/server), HTTP
 * `fetch` by default (`requestLeaderFetch(fetch)`), an in-process app in tests. It throws
 * `ForwardNotSentError` when it knows that nothing reached the leader; any other throw is taken
 * as "maybe applied".
 */
export type LeaderFetch = (request: ForwardedRequest) => Promise<LeaderAnswer>;

/** A `LeaderFetch` failure before any byte of the request left this node. */
export class ForwardNotSentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ForwardNotSentError";
  }
}

/** A `LeaderFetch` over anything that answers a `Request` (`fetch`, or an app's `fetch`). */
export function requestLeaderFetch(
  fetchFn: (request: Request) => Response | Promise<Response>,
): LeaderFetch {
  return async (r) => {
    const answer = await fetchFn(
      new Request(new URL(r.path, r.leaderUrl), {
        method: r.method,
        headers: r.headers,
        ...(r.body !== undefined ? { body: r.body } : {}),
        signal: r.signal,
      }),
    );
    let body: Uint8Array<ArrayBuffer>;
    try {
      body = new Uint8Array(await answer.arrayBuffer());
    } catch (error) {
      throw new Error(`The leader's answer was cut off: ${describe(error)}`);
    }
    return { status: answer.status, headers: answer.headers, body };
  };
}

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
  /** Also ends the exchange (a long poll cut when this node shuts down). */
  readonly cut?: AbortSignal;
}

const DROP_REQUEST = new Set(DROP_REQUEST_HEADERS);
const DROP_RESPONSE = new Set(DROP_RESPONSE_HEADERS);

/** Forwards the request to the leader and returns its answer (see the module doc). */
export async function forwardToLeader(options: ForwardOptions): Promise<Response> {
  const { request, bodyBytes, leaderUrl, nodeId } = options;
  const incoming = new URL(request.url);
  const headers: [string, string][] = [];
  // `forEach`, not `for..of`: Deno's Headers iterator sorts the whole list again at every step
  // (~6.5 against ~0.9 µs for 7 headers); both give the same pairs in the same order.
  request.headers.forEach((value, name) => {
    if (!DROP_REQUEST.has(name) && name !== HOP_HEADER) headers.push([name, value]);
  });
  headers.push([HOP_HEADER, nodeId]);
  const hasBody = bodyBytes.byteLength > 0 && request.method !== "GET" &&
    request.method !== "HEAD";
  let answer: LeaderAnswer;
  const deadline = new Deadline(options.timeoutMs, options.cut);
  try {
    answer = await options.leaderFetch({
      leaderUrl,
      path: incoming.pathname + incoming.search,
      method: request.method,
      headers,
      body: hasBody ? bodyBytes.slice() : undefined,
      signal: deadline.signal,
    });
  } catch (error) {
    throw classifyFailure(error, leaderUrl);
  } finally {
    deadline.clear();
  }
  const out: [string, string][] = [];
  for (const [name, value] of answer.headers) {
    if (!DROP_RESPONSE.has(name)) out.push([name, value]);
  }
  if (
    out.length === 1 && out[0][0] === "content-type" && out[0][1] === "application/json" &&
    hasBodyStatus(answer.status)
  ) {
    // A publish's 201 and the like: Deno's fast form of a JSON answer (`fast_response.ts`).
    return jsonTextResponse(answer.status, answer.body);
  }
  const bodyless = answer.status === 204 || answer.status === 304;
  return new Response(bodyless ? null : answer.body, { status: answer.status, headers: out });
}

/**
 * The deadlines of every forward of this process, on one timer (`Deadlines`): a `setTimeout` and
 * a `clearTimeout` per forwarded write were ~8 µs of a forwarding follower's CPU per publish
 * (Deno's timers, in its profile under 256 HTTP publishes in flight, 2026-12-07); here a forward
 * costs a `Set` insert and delete. The timer is cleared whenever no forward is pending.
 */
const DEADLINES = new Deadlines();

/**
 * The signal of one forward: aborts when `timeoutMs` pass (as `AbortSignal.timeout`, with its
 * reason) or when `cut` aborts (with `cut`'s reason). Cleared at the answer: an
 * `AbortSignal.timeout` cannot be, so each forward's timer fired `timeoutMs` later all the same
 * (thousands a second, each making an error and an event, long after their answers).
 */
class Deadline implements Pending {
  at = 0;
  readonly #controller = new AbortController();
  readonly #cut: AbortSignal | undefined;
  readonly #onCut = () => this.#controller.abort(this.#cut?.reason);

  constructor(timeoutMs: number, cut: AbortSignal | undefined) {
    DEADLINES.addPending(this, timeoutMs);
    this.#cut = cut;
    if (cut?.aborted) this.#onCut();
    else cut?.addEventListener("abort", this.#onCut, { once: true });
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The timeout passed (`Deadlines` calls it once, unless cleared first). */
  fire(): void {
    this.#controller.abort(
      new DOMException("The operation was aborted due to timeout", "TimeoutError"),
    );
  }

  clear(): void {
    DEADLINES.remove(this);
    this.#cut?.removeEventListener("abort", this.#onCut);
  }
}

function classifyFailure(error: unknown, leaderUrl: string): ProblemError {
  const text = describe(error);
  // Connect-phase failures: the request bytes never left this node.
  if (
    error instanceof ForwardNotSentError ||
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
