/**
 * The client's streams (`/v1/stream`), one per node asked for, opened on first use and again
 * after a loss, and moved to the leader: a follower forwards every write to the leader (one hop
 * more), so after a stream opens, and again at most once every `followEveryMs` while it is used,
 * the pool asks its node's `/readyz` who leads. When that names another node, the pool opens a
 * stream there (same token and `dial`) and new requests addressed to the follower ride it; the
 * old stream finishes what it carries (requests in flight, long polls, consumers), then closes.
 * A leader the client cannot reach changes nothing: the pool stays and asks again later.
 *
 * @module
 */

import { headerValue, type StreamAnswer, StreamConnection, type StreamDial } from "./stream.ts";
import type { CallSignal } from "./attempt_cancel.ts";
import { defaultDial } from "./default_dial.ts";

/** How the pool follows the leader. */
export interface FollowOptions {
  /** Move to the leader when the stream's node is not it. Default true. */
  readonly followLeader?: boolean;
  /** How often (at most) a used stream's node is asked who leads. Default 1 000 ms. */
  readonly followEveryMs?: number;
}

/**
 * The base URL of the leader when `c`'s node names another node as leader in `/readyz`;
 * undefined when it leads itself, knows no leader, or does not say where it is. Shared with the
 * edge gateway's upstream stream.
 */
export async function leaderElsewhere(c: StreamConnection): Promise<string | undefined> {
  const answer = await c.request("GET", "/readyz", {});
  if (!answer.ok) {
    await answer.body?.cancel();
    return undefined;
  }
  const ready = await answer.json() as { leaderId?: unknown; leaderUrl?: unknown };
  const { leaderId, leaderUrl } = ready;
  if (typeof leaderId !== "string" || leaderId === "" || leaderId === String(c.hello.node)) {
    return undefined;
  }
  return typeof leaderUrl === "string" && leaderUrl !== "" ? httpBase(leaderUrl) : undefined;
}

/** How long a reopen waits for the leader a node's requests last moved to, before the node. */
const REOPEN_MOVED_MS = 1_000;

/** `ws://h:p/` → `http://h:p` (the stream adds its path): scheme, host and port only. */
export function httpBase(url: string): string {
  return new URL(url.replace(/^ws(s?):\/\//, "http$1://")).origin;
}

/** Streams to each node, moved to the leader; `fetch` and `call` ride on them. */
export class StreamPool {
  readonly #streams = new Map<string, Promise<StreamConnection>>();
  /** What each of `#streams`' promises resolved to, once it did (no await per request then). */
  readonly #settled = new WeakMap<Promise<StreamConnection>, StreamConnection>();
  /** The leader question in flight, per node asked for, and when it was last asked. */
  readonly #following = new Map<string, Promise<void>>();
  readonly #followedAt = new Map<string, number>();
  /**
   * Where each node's requests last moved (the leader it named). A stream closed when idle is
   * reopened there first, so a client that pauses longer than `idleMs` does not pay the
   * forwarding hop (and another leader question) on every first call after the pause.
   */
  readonly #movedTo = new Map<string, string>();

  /**
   * `idleMs`: a stream with nothing in flight for this long is closed (the next request opens
   * a new one), so a script that never calls `client.close()` still exits; 0 keeps streams open.
   */
  constructor(
    readonly token?: string,
    readonly idleMs = 2_000,
    /**
     * Opens each stream's socket (`TransportOptions.dial`); default `defaultDial()`: with
     * TCP_NODELAY in Deno, `new WebSocket` elsewhere.
     */
    readonly dial?: StreamDial,
    readonly follow: FollowOptions = {},
  ) {}

  /**
   * The open stream for `node`, opening one if there is none (or the last was lost): the
   * leader's, once `node` named another node as leader.
   */
  async connection(node: string): Promise<StreamConnection> {
    return this.#ready(node) ?? await this.#connection(node);
  }

  /** `node`'s stream when it is open already (what `connection` would give, at once). */
  #ready(node: string): StreamConnection | undefined {
    const existing = this.#streams.get(node);
    const c = existing === undefined ? undefined : this.#settled.get(existing);
    if (c === undefined || c.lost) return undefined;
    this.#maybeFollow(node, c);
    return c;
  }

  #put(node: string, p: Promise<StreamConnection>): void {
    this.#streams.set(node, p);
    p.then((c) => this.#settled.set(p, c), () => {});
  }

  async #connection(node: string): Promise<StreamConnection> {
    const existing = this.#streams.get(node);
    if (existing !== undefined) {
      const c = await existing.catch(() => undefined);
      if (c !== undefined && !c.lost) {
        this.#maybeFollow(node, c);
        return c;
      }
      if (this.#streams.get(node) === existing) this.#streams.delete(node);
    }
    const again = this.#streams.get(node);
    if (again !== undefined) return await again;
    const opening = this.#reopen(node).then((c) => {
      this.#maybeFollow(node, c, true);
      return c;
    });
    this.#put(node, opening);
    opening.catch(() => {
      if (this.#streams.get(node) === opening) this.#streams.delete(node);
    });
    return await opening;
  }

  /** The id of the node whose stream requests for `node` ride now (its hello), if one is open. */
  async nodeOf(node: string): Promise<string | undefined> {
    const c = await this.#streams.get(node)?.catch(() => undefined);
    return c === undefined || c.lost ? undefined : String(c.hello.node);
  }

  async #open(node: string, timeoutMs?: number): Promise<StreamConnection> {
    const dial = this.dial ?? await defaultDial();
    const c = await StreamConnection.open(node, this.token, timeoutMs, dial);
    c.idleMs = this.idleMs;
    return c;
  }

  /**
   * A new stream for `node`'s requests: to the leader they last moved to when it still answers
   * within `REOPEN_MOVED_MS` (its own pool entry, shared), else to `node` itself (and the
   * leader question is asked again there).
   */
  async #reopen(node: string): Promise<StreamConnection> {
    const moved = this.#movedTo.get(node);
    if (moved !== undefined && this.follow.followLeader !== false) {
      const existing = await this.#streams.get(moved)?.catch(() => undefined);
      if (existing !== undefined && !existing.lost) return existing;
      try {
        const c = await this.#open(moved, REOPEN_MOVED_MS);
        if (!this.#streams.has(moved)) this.#put(moved, Promise.resolve(c));
        return c;
      } catch {
        this.#movedTo.delete(node);
      }
    }
    return await this.#open(node);
  }

  #maybeFollow(node: string, c: StreamConnection, now = false): void {
    if (this.follow.followLeader === false || this.#following.has(node)) return;
    // An edge gateway's stream (its hello says `relay`) is where the client must stay.
    if (c.hello.relay === true) return;
    const every = this.follow.followEveryMs ?? 1_000;
    if (!now && Date.now() - (this.#followedAt.get(node) ?? -Infinity) < every) return;
    this.#followedAt.set(node, Date.now());
    // A leader that cannot be reached (or a node that cannot say) leaves the stream as it is.
    const following = this.#moveToLeader(node, c).catch(() => {})
      .finally(() => this.#following.delete(node));
    this.#following.set(node, following);
  }

  /** Asks `c`'s node who leads; moves `node`'s requests to the leader's stream if another. */
  async #moveToLeader(node: string, c: StreamConnection): Promise<void> {
    const before = this.#streams.get(node);
    const leaderUrl = await leaderElsewhere(c);
    if (leaderUrl === undefined || leaderUrl === node) return;
    const leader = await this.connection(leaderUrl);
    // Something else replaced the stream meanwhile (a loss, a close): keep that.
    if (this.#streams.get(node) !== before || c.lost || leader === c) return;
    this.#put(node, Promise.resolve(leader));
    this.#movedTo.set(node, leaderUrl);
    // The old stream finishes what it carries (a long poll, a consumer), then closes.
    c.drain();
  }

  /**
   * One request over the stream for the node `url` names, as `fetch` would send it (same URL
   * parsing; only the `Idempotency-Key` and `Quorumq-Session` of `headers`, lower-case, go: the
   * stream carries the rest), the answer read without a `Response` (the transport's way). When
   * another node's stream carried it (the leader the pool moved to), `servedBy` is that node's
   * base URL.
   */
  async call(
    url: string,
    method: string,
    headers: Readonly<Record<string, string>>,
    bodyText: string | undefined,
    signal: CallSignal | undefined,
  ): Promise<StreamAnswer & { readonly servedBy?: string }> {
    const parsed = parseUrl(url);
    const stream = this.#ready(parsed.origin) ?? await this.#connection(parsed.origin);
    const passed: Record<string, string> = {};
    const key = headers["idempotency-key"];
    if (key !== undefined) passed["idempotency-key"] = headerValue(key);
    const session = headers["quorumq-session"];
    if (session !== undefined) passed["quorumq-session"] = headerValue(session);
    const answer = await stream.call(method, parsed.path, passed, bodyText, signal);
    return stream.node === parsed.origin ? answer : { ...answer, servedBy: stream.node };
  }

  /**
   * `call` for the transport: the node's base URL and the path apart (no URL built per request),
   * and only the headers a stream carries (`idempotencyKey`, and `session` for `Quorumq-Session`,
   * both checked as `fetch` would). Not an async function when the stream is open already: the
   * answer's promise is the stream's own.
   */
  callPath(
    node: string,
    path: string,
    method: string,
    idempotencyKey: string | undefined,
    session: string | undefined,
    bodyText: string | undefined,
    signal: CallSignal | undefined,
  ): Promise<StreamAnswer & { readonly servedBy?: string }> {
    try {
      const parsed = parsePath(node, path);
      const key = idempotencyKey === undefined ? undefined : headerValue(idempotencyKey);
      const place = session === undefined ? undefined : headerValue(session);
      const stream = this.#ready(parsed.origin);
      if (stream !== undefined) {
        const moved = stream.node !== parsed.origin;
        return stream.callWith(method, parsed.path, key, place, bodyText, signal, moved);
      }
      return this.#callPathLater(parsed, method, key, place, bodyText, signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #callPathLater(
    parsed: { readonly origin: string; readonly path: string },
    method: string,
    key: string | undefined,
    session: string | undefined,
    bodyText: string | undefined,
    signal: CallSignal | undefined,
  ): Promise<StreamAnswer & { readonly servedBy?: string }> {
    const stream = this.#ready(parsed.origin) ?? await this.#connection(parsed.origin);
    const moved = stream.node !== parsed.origin;
    return await stream.callWith(method, parsed.path, key, session, bodyText, signal, moved);
  }

  /** `fetch` over the stream: same URL, method, headers and JSON body; a `Response` back. */
  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
    const stream = await this.connection(url.origin);
    const headers: Record<string, string> = {};
    // forEach, not for-of: the npm build's DOM lib types Headers without an iterator.
    new Headers(init?.headers).forEach((value, name) => {
      if (name === "idempotency-key" || name === "quorumq-session") headers[name] = value;
    });
    const body = typeof init?.body === "string" ? init.body : undefined;
    const signal = init?.signal ?? undefined;
    return await stream.request(
      init?.method ?? "GET",
      url.pathname + url.search,
      headers,
      body,
      signal,
    );
  };

  /**
   * Closes every stream (a later request opens a new one). A leader question still in flight
   * may open a stream meanwhile: that one is closed too (a few rounds, bounded).
   */
  async close(): Promise<void> {
    for (let round = 0; round < 5; round++) {
      const all = new Set(this.#streams.values());
      this.#streams.clear();
      for (const p of all) await (await p.catch(() => undefined))?.close();
      if (this.#following.size === 0) break;
      await Promise.allSettled([...this.#following.values()]);
      if (this.#streams.size === 0) break;
    }
  }
}

/** URLs parsed lately: a client sends to a few paths over and over (a `URL` is ~1 µs). */
const parsedUrls = new Map<string, { readonly origin: string; readonly path: string }>();
const PARSED_URLS_MAX = 256;

/**
 * Paths parsed lately, per node base URL: a client sends to a few paths over and over, and
 * looks them up by the strings it built them as (a queue's publish path is built once,
 * `client.ts`), whose hashes the engine keeps: no URL string made and hashed per request.
 */
const parsedPaths = new Map<
  string,
  Map<string, { readonly origin: string; readonly path: string }>
>();

/** `node + path` parsed, as `parseUrl` does. */
function parsePath(
  node: string,
  path: string,
): { readonly origin: string; readonly path: string } {
  let paths = parsedPaths.get(node);
  if (paths === undefined) {
    if (parsedPaths.size >= PARSED_URLS_MAX) parsedPaths.clear();
    parsedPaths.set(node, paths = new Map());
  }
  let parsed = paths.get(path);
  if (parsed === undefined) {
    parsed = parseUrl(node + path);
    if (paths.size >= PARSED_URLS_MAX) paths.clear();
    paths.set(path, parsed);
  }
  return parsed;
}

/** `url`'s origin and its path with the query, as `new URL` reads them. */
function parseUrl(url: string): { readonly origin: string; readonly path: string } {
  let parsed = parsedUrls.get(url);
  if (parsed === undefined) {
    const u = new URL(url);
    parsed = { origin: u.origin, path: u.pathname + u.search };
    if (parsedUrls.size >= PARSED_URLS_MAX) parsedUrls.clear();
    parsedUrls.set(url, parsed);
  }
  return parsed;
}
