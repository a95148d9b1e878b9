/**
 * The gateway's short cache of stale reads (docs/edge.md, "Stale reads"): a `GET` that asks
 * `?consistency=stale` may be answered from an answer the node gave less than `ttlMs` ago, to
 * the same caller, and says so in `quorumq-edge-cache: hit; age-ms=<n>` (and `Age`); the
 * answer it came from says `quorumq-edge-cache: miss`. A stale read at a node already answers
 * from a replica that may lag, so a cached answer promises nothing less, only older by at most
 * `ttlMs`.
 *
 * An answer is kept per caller: the key holds every request header the node reads
 * (`Authorization` among them), so one token's answer is never served to another (nor to a
 * caller without one), and the node still decides each caller's first ask. Only 200 answers
 * are kept, up to `maxBodyBytes` each and `maxEntries` in all (the oldest go first: all live
 * equally long). `Cache-Control: no-cache` (or `no-store`) on a request goes to the node.
 *
 * Portable: no runtime API.
 *
 * @module
 */

import { ANSWER_HEADERS } from "../http/stream_protocol.ts";

/** The answer header that says where a stale read's answer came from. */
export const CACHE_HEADER = "quorumq-edge-cache";

/** Options of `StaleCache`. */
export interface StaleCacheOptions {
  /** How long an answer may be served, in ms; 0: no cache. */
  readonly ttlMs: number;
  /** Most answers kept; default 1024. */
  readonly maxEntries?: number;
  /** Largest answer body kept, in UTF-16 code units of its text; default 64 KiB. */
  readonly maxBodyBytes?: number;
  /** The clock (ms); default `Date.now`. */
  readonly now?: () => number;
}

interface Entry {
  readonly at: number;
  readonly status: number;
  readonly headers: readonly [string, string][];
  readonly text: string;
}

/** The cache of one gateway instance. */
export class StaleCache {
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #maxBody: number;
  readonly #now: () => number;

  constructor(options: StaleCacheOptions) {
    this.#ttlMs = options.ttlMs;
    this.#maxEntries = options.maxEntries ?? 1024;
    this.#maxBody = options.maxBodyBytes ?? 64 * 1024;
    this.#now = options.now ?? Date.now;
  }

  /** How many answers are held (expired ones included until they are looked up or pushed out). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The key of a request the cache may answer, or undefined: a GET asking
   * `consistency=stale`, without `Cache-Control: no-cache`/`no-store`, while the cache is on.
   * `path` is the path and query; `headers` are the ones sent to the node (the caller's
   * `Authorization` among them); `cacheControl` reads the request's `Cache-Control` (asked only
   * of a request the cache may answer: a header read costs a publish CPU).
   */
  key(
    method: string,
    path: string,
    headers: Readonly<Record<string, string>>,
    cacheControl: () => string | null,
  ): string | undefined {
    if (this.#ttlMs <= 0 || method !== "GET") return undefined;
    // Parsed only when it may ask (a read spelled otherwise simply goes to the node).
    const query = path.indexOf("?");
    if (query < 0 || !path.includes("consistency=stale", query)) return undefined;
    if (new URLSearchParams(path.slice(query)).get("consistency") !== "stale") return undefined;
    const control = cacheControl();
    if (control !== null && /no-cache|no-store/i.test(control)) return undefined;
    // Header names are few and fixed (the gateway's PASSED list), in the same order every time.
    return JSON.stringify([path, headers]);
  }

  /** The cached answer of `key`, marked as a hit with its age, or undefined. */
  lookup(key: string): Response | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    const age = this.#now() - entry.at;
    if (age >= this.#ttlMs || age < 0) {
      this.#entries.delete(key);
      return undefined;
    }
    return new Response(entry.text === "" ? null : entry.text, {
      status: entry.status,
      headers: [
        ...entry.headers,
        [CACHE_HEADER, `hit; age-ms=${Math.floor(age)}`],
        ["age", String(Math.floor(age / 1000))],
      ],
    });
  }

  /**
   * Keeps the node's `answer` under `key` when it is a 200 of a size the cache keeps; returns
   * the answer to give the caller (the same status, headers and body), marked as a miss.
   */
  async store(key: string, answer: Response): Promise<Response> {
    const text = await answer.text();
    const headers: [string, string][] = [];
    for (const name of ANSWER_HEADERS) {
      const value = answer.headers.get(name);
      if (value !== null) headers.push([name, value]);
    }
    if (answer.status === 200 && text.length <= this.#maxBody) {
      this.#entries.delete(key);
      // Bounded by the map's size: each pass removes one entry.
      while (this.#entries.size >= this.#maxEntries) {
        this.#entries.delete(this.#entries.keys().next().value!);
      }
      this.#entries.set(key, { at: this.#now(), status: answer.status, headers, text });
    }
    return new Response(text === "" ? null : text, {
      status: answer.status,
      headers: [...headers, [CACHE_HEADER, "miss"]],
    });
  }
}
