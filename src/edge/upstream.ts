/**
 * The gateway's one stream to the cluster (`/v1/stream`, docs/stream.md): opened to any of the
 * upstream nodes with the gateway's relay token, then moved to the leader when the node it is on
 * names another one in `/readyz` (a follower would forward every write to the leader: one hop
 * more). Many requests ride it at once. A lost stream is not hidden: each request in flight on it
 * ends `StreamLost` (its outcome unknown), and the next request opens a new stream.
 *
 * Portable: fetch, WebSocket (or the `dial` given), timers; no runtime API (docs/edge.md).
 *
 * @module
 */

import { leaderElsewhere, StreamConnection, type StreamDial } from "../client/mod.ts";

/** A node's answer as the stream reads it: status, headers (lower-case names), text or null. */
export type StreamAnswer = Awaited<ReturnType<StreamConnection["call"]>>;

/**
 * Where the gateway's forwarded calls go: an `Upstream`, or a hand-off to the place that holds
 * one (a Worker's isolate, whose stream only the request that opened it may use).
 */
export interface CallPort {
  /** The id of the node the stream is open to, if one is (`/healthz`). */
  readonly node: string | undefined;
  /**
   * See `Upstream.gather`; undefined when the call need not wait (then no promise is made and
   * no turn awaited).
   */
  gather(): Promise<void> | undefined;
  /**
   * Sends one call over the stream; `NoUpstream` when no node could be reached (nothing was
   * sent), `StreamLost` when the stream was lost after it was sent.
   */
  send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string,
    signal?: AbortSignal,
  ): Promise<StreamAnswer>;
}

/** Options of `Upstream`. */
export interface UpstreamOptions {
  /** Base URLs of the nodes (`http://`, `https://`, `ws://` or `wss://`); any node will do. */
  readonly urls: readonly string[];
  /** The gateway's own token (one with `"relay": true` in the cluster's auth file). */
  readonly token?: string;
  /** Opens a socket to a `ws:`/`wss:` URL; default `new WebSocket(url)`. */
  readonly dial?: StreamDial;
  /** How long a request waits for a stream to open before `no_leader`. Default 5 000. */
  readonly openTimeoutMs?: number;
  /** Move to the leader when the stream's node is not it. Default true. */
  readonly followLeader?: boolean;
  /** How often (at most) a request asks the stream's node who leads. Default 1 000 ms. */
  readonly followEveryMs?: number;
  /**
   * With calls in flight and nothing heard from the node for this long, the stream is probed
   * (`GET /healthz`); unanswered for `probeTimeoutMs` more, it is closed, and its calls end as
   * on a lost stream. Default 30 000 and 10 000 ms.
   */
  readonly silenceMs?: number;
  readonly probeTimeoutMs?: number;
  /**
   * Resolves once the runtime has run what else arrived in this turn of its event loop (Deno:
   * `setImmediate`). Given, a call that finds others in flight waits for it, so that the calls
   * of one turn go to the node in one message: one socket write and one wake-up of the node
   * instead of one each (docs/edge.md, "Measured"). Absent: every call is sent at once.
   */
  readonly gather?: () => Promise<void>;
  /** Gateway events (stream opened, lost, moved); default none. */
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
}

/** No node could be reached within `openTimeoutMs`: nothing was sent. */
export class NoUpstream extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NoUpstream";
  }
}

/** The stream to the cluster, reopened after a loss and moved to the leader. */
export class Upstream implements CallPort {
  readonly #urls: readonly string[];
  readonly #dial: StreamDial | undefined;
  #current: StreamConnection | undefined;
  #opening: Promise<StreamConnection> | undefined;
  #following: Promise<void> | undefined;
  #followedAt = -Infinity;
  /** The index in `urls` to try first: the last one that opened. */
  #first = 0;
  /** The liveness check's one timer, armed while calls are in flight. */
  #watch: ReturnType<typeof setTimeout> | undefined;
  /** When the check was armed: silence counts from then or from the last frame heard. */
  #watchSince = 0;
  #probing = false;
  /** The turn that calls arriving now wait for (`gather`), while one is pending. */
  #gathering: Promise<void> | undefined;
  /** Every stream this upstream opened that is not closed yet: current, draining or moving. */
  readonly #streams = new Set<StreamConnection>();
  #closed = false;

  constructor(readonly options: UpstreamOptions) {
    if (options.urls.length === 0) throw new Error("The gateway needs at least one upstream URL");
    this.#urls = options.urls.map(httpBase);
    this.#dial = options.dial;
  }

  /** The id of the node the stream is open to, if one is. */
  get node(): string | undefined {
    const c = this.#current;
    return c !== undefined && !c.lost ? nodeId(c) : undefined;
  }

  /**
   * The open stream, opening one if there is none (or it was lost); throws `NoUpstream` when no
   * node answers within `openTimeoutMs`. Now and then it also checks who leads (in the
   * background: the caller does not wait for it).
   */
  async connection(): Promise<StreamConnection> {
    if (this.#closed) throw new NoUpstream("The gateway is closed");
    const current = this.#current;
    if (current !== undefined && !current.lost) {
      this.#maybeFollow(current);
      this.#arm();
      return current;
    }
    this.#opening ??= this.#open().finally(() => this.#opening = undefined);
    const opened = await this.#opening;
    this.#arm();
    return opened;
  }

  /** Sends one call on the open stream (opening one if needed): `CallPort.send`. */
  send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string,
    signal?: AbortSignal,
  ): Promise<StreamAnswer> {
    const current = this.#current;
    if (current !== undefined && !current.lost) {
      // The stream is open (nearly always): the call goes on it in this turn, without the two
      // promise turns of awaiting `connection()`.
      this.#maybeFollow(current);
      this.#arm();
      return current.call(method, path, headers, body, signal);
    }
    return this.connection().then((stream) => stream.call(method, path, headers, body, signal));
  }

  /** The base URL of the node the stream is open to, if one is. */
  get url(): string | undefined {
    const c = this.#current;
    return c !== undefined && !c.lost ? c.node : undefined;
  }

  /**
   * With the `gather` option and calls in flight: waits until the event loop's turn is over, so
   * that every call that arrived in it is sent together. With nothing in flight (a quiet
   * gateway) it does not wait (undefined): the call goes at once.
   */
  gather(): Promise<void> | undefined {
    const gather = this.options.gather;
    const c = this.#current;
    if (gather === undefined || c === undefined || c.lost || c.inFlight === 0) return undefined;
    if (this.#gathering === undefined) {
      const turn = gather();
      this.#gathering = turn;
      const done = () => this.#gathering = undefined;
      turn.then(done, done);
    }
    return this.#gathering;
  }

  /** Arms the liveness check, unless it is armed (a call is about to be sent). */
  #arm(): void {
    if (this.#watch !== undefined) return;
    this.#watchSince = Date.now();
    this.#watch = setTimeout(() => this.#check(), this.#checkEveryMs());
  }

  #checkEveryMs(): number {
    return Math.max(10, Math.min(5_000, (this.options.silenceMs ?? 30_000) / 4));
  }

  /**
   * Probes a stream that has said nothing for `silenceMs` while calls wait on it, and closes it
   * when the probe is not answered either (a node gone silent without closing the connection).
   * Re-armed while anything is in flight.
   */
  #check(): void {
    this.#watch = undefined;
    const c = this.#current;
    if (c === undefined || c.lost || c.inFlight === 0) return;
    const silenceMs = this.options.silenceMs ?? 30_000;
    const silentFor = Date.now() - Math.max(c.lastHeardMs, this.#watchSince);
    if (silentFor >= silenceMs + (this.options.probeTimeoutMs ?? 10_000)) {
      this.options.log?.("upstream_silent", { node: nodeId(c), silentMs: silentFor });
      void c.close();
      return;
    }
    if (silentFor >= silenceMs && !this.#probing) {
      this.#probing = true;
      c.request("GET", "/healthz", {}).then((r) => r.body?.cancel(), () => {})
        .finally(() => this.#probing = false);
    }
    this.#watch = setTimeout(() => this.#check(), this.#checkEveryMs());
  }

  /** Closes the current stream (requests in flight end `StreamLost`); a later call opens one. */
  async close(): Promise<void> {
    clearTimeout(this.#watch);
    this.#watch = undefined;
    const current = this.#current;
    this.#current = undefined;
    await current?.close();
  }

  /**
   * The gateway stops: closes every stream it opened, the current one (requests in flight end
   * `StreamLost`), those still draining after a move to the leader, and one still opening
   * (closed as it opens); calls after it get `NoUpstream`.
   */
  async stop(): Promise<void> {
    this.#closed = true;
    await this.close();
    await Promise.all([this.#opening?.catch(() => {}), this.#following]);
    await Promise.all([...this.#streams].map((c) => c.close()));
  }

  /** A stream just opened: kept (and closed by `close()`), or closed now if that came first. */
  #opened(c: StreamConnection): boolean {
    if (this.#closed) {
      void c.close();
      return false;
    }
    this.#streams.add(c);
    void c.closed.then(() => this.#streams.delete(c));
    return true;
  }

  async #open(): Promise<StreamConnection> {
    const timeoutMs = this.options.openTimeoutMs ?? 5_000;
    const deadline = Date.now() + timeoutMs;
    const errors: string[] = [];
    // Bounded by the deadline and by a round count; each try is bounded by what time is left.
    for (let round = 0; round < 100 && Date.now() < deadline; round++) {
      if (this.#closed) throw new NoUpstream("The gateway is closed");
      for (let k = 0; k < this.#urls.length && Date.now() < deadline; k++) {
        const at = (this.#first + k) % this.#urls.length;
        try {
          const left = Math.max(1, deadline - Date.now());
          const c = await StreamConnection.open(
            this.#urls[at],
            this.options.token,
            left,
            this.#dial,
          );
          if (!this.#opened(c)) throw new NoUpstream("The gateway is closed");
          this.#first = at;
          this.#adopt(c);
          this.#maybeFollow(c, true);
          return c;
        } catch (error) {
          if (this.#closed) throw new NoUpstream("The gateway is closed");
          errors.push(`${this.#urls[at]}: ${(error as Error).message}`);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(100, timeoutMs / 10)));
    }
    throw new NoUpstream(
      `No node of the cluster opened a stream within ${timeoutMs} ms (${
        errors.slice(-3).join("; ")
      })`,
    );
  }

  #adopt(c: StreamConnection): void {
    const before = this.#current;
    this.#current = c;
    this.options.log?.("upstream_open", { node: nodeId(c), url: c.node });
    c.closed.then(() => {
      if (this.#current === c) this.options.log?.("upstream_lost", { node: nodeId(c) });
    });
    // The old stream finishes what it carries (a long poll, a consumer), then closes.
    if (before !== undefined && before !== c) before.drain();
  }

  #maybeFollow(c: StreamConnection, now = false): void {
    if (this.options.followLeader === false || this.#following !== undefined) return;
    const every = this.options.followEveryMs ?? 1_000;
    if (!now && Date.now() - this.#followedAt < every) return;
    this.#followedAt = Date.now();
    this.#following = this.#follow(c).catch((error) => {
      this.options.log?.("upstream_follow_failed", { error: String(error) });
    }).finally(() => this.#following = undefined);
  }

  /** Asks `c`'s node who leads; opens a stream to the leader when it is another node. */
  async #follow(c: StreamConnection): Promise<void> {
    const leaderUrl = await leaderElsewhere(c);
    if (leaderUrl === undefined || this.#current !== c) return;
    const openMs = this.options.openTimeoutMs ?? 5_000;
    const leader = await StreamConnection.open(leaderUrl, this.options.token, openMs, this.#dial);
    if (!this.#opened(leader)) return;
    if (this.#current !== c || c.lost) {
      // Something else replaced the stream meanwhile: keep that one.
      leader.drain();
      return;
    }
    this.options.log?.("upstream_follow", { from: nodeId(c), to: nodeId(leader) });
    this.#adopt(leader);
  }
}

/** The id of the node a stream is open to (its hello). */
function nodeId(c: StreamConnection): string {
  return String(c.hello.node);
}

/** `ws://h:p` → `http://h:p` (the stream adds its path), without a trailing slash. */
function httpBase(url: string): string {
  return url.replace(/^ws(s?):\/\//, "http$1://").replace(/\/+$/, "");
}
