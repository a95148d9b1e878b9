/**
 * What the MQTT gateway asks of the broker, as requests to this node's own HTTP API (in process,
 * no socket): the API already forwards writes to the leader, checks bearer tokens and
 * permissions, and validates, so the gateway adds no second copy of those rules.
 *
 * @module
 */

import type { Principal } from "../http/mod.ts";

/**
 * The node's HTTP handler (`createApp(...).fetch`), with the principal a request runs as when
 * auth is on (the gateway authenticated the token at CONNECT, once).
 */
export type ApiFetch = (req: Request, principal?: Principal) => Response | Promise<Response>;

/** An answer of the API: the status and the parsed JSON body (undefined when empty). */
export interface ApiAnswer {
  readonly status: number;
  // deno-lint-ignore no-explicit-any
  readonly body: any;
}

/** One message handed out by a subscription receive (the API's JSON shape). */
export interface ApiDelivery {
  readonly seq: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;
  readonly subject: string | null;
  readonly attempt: number;
  readonly receipt: string;
}

/** A retained message as `GET /v1/topics/{t}/retained` answers it. */
export interface ApiRetained {
  readonly seq: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;
  readonly subject: string;
}

/** The quorumq topic every MQTT message goes to. */
export const MQTT_TOPIC = "mqtt";

const BASE = "http://mqtt.gateway";

/** The API as one MQTT connection sees it: as its token's principal (`MqttAccess`). */
export class BrokerApi {
  readonly #fetch: ApiFetch;
  readonly #principal: Principal | undefined;

  constructor(fetch: ApiFetch, principal: Principal | undefined) {
    this.#fetch = fetch;
    this.#principal = principal;
  }

  async call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<ApiAnswer> {
    const h = new Headers({ "content-type": "application/json", ...headers });
    const init: RequestInit = { method, headers: h, ...(signal ? { signal } : {}) };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await this.#fetch(new Request(BASE + path, init), this.#principal);
    const text = await res.text();
    return { status: res.status, body: text === "" ? undefined : JSON.parse(text) };
  }

  /**
   * A call that is retried while the cluster has no leader or the outcome is unknown (a write
   * here is always made safe to repeat by its message id or Idempotency-Key), up to `deadline`.
   */
  async write(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
    timeoutMs = 15_000,
  ): Promise<ApiAnswer> {
    const end = Date.now() + timeoutMs;
    for (let attempt = 0;; attempt++) {
      const a = await this.call(method, path, body, headers);
      const retry = a.status === 503 || a.status === 504 || a.status === 421;
      if (!retry || Date.now() >= end) return a;
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 500)));
    }
  }

  /** Creates the MQTT topic when it is missing (idempotent). */
  ensureTopic(): Promise<ApiAnswer> {
    return this.write("PUT", `/v1/topics/${MQTT_TOPIC}`, {});
  }
}
