/**
 * What the MQTT gateway asks of the broker, as requests to this node's own HTTP API (in process,
 * no socket): the API already forwards writes to the leader, checks bearer tokens and
 * permissions, and validates, so the gateway adds no second copy of those rules.
 *
 * @module
 */

import type { Principal } from "../http/mod.ts";

/** One request to the node's API, in process. */
export interface ApiRequest {
  readonly method: string;
  /** From `/v1/...` on, with its query. */
  readonly path: string;
  readonly headers: Record<string, string>;
  /** The JSON text of the body, handed over as text (no body stream). */
  readonly text?: string;
  /**
   * Or the body as its value (`SizedBody`): the API reads it as it is when its bound is within
   * the node's limit, else makes its text (`BodyValue` in src/http/direct.ts).
   */
  readonly value?: SizedBody;
  /** Auth on: whom it runs as (the gateway authenticated the token at CONNECT, once). */
  readonly principal?: Principal;
  /**
   * Auth on: the CONNECT's token as an `Authorization` value. A follower forwards the request to
   * the leader with it and the gateway's proof (`GatewayProof`), and the leader runs it as the
   * same principal (`gateway_auth.ts`).
   */
  readonly authorization?: string;
  /** Auth on: the gateway's own request (no token), proven like the others. */
  readonly asGateway?: boolean;
  /** Ends a long poll early (the app stops waiting). */
  readonly signal?: AbortSignal;
}

/**
 * The node's API in process (`createApp(...).fetch` behind `src/server/start.ts`): the status
 * and the JSON text of its answer; for a batch publish whose every message was published, also
 * their count (`published`), and then the text is made only if read.
 */
export type ApiFetch = (req: ApiRequest) => Promise<ApiFetchAnswer>;

/** What `ApiFetch` answers. */
export interface ApiFetchAnswer {
  readonly status: number;
  readonly text: string;
  readonly published?: number;
}

/**
 * Makes an answer's body (not called for an empty text): `JSON.parse` of its text by default;
 * `readBatchAnswer` (batch_answer.ts) takes a batch publish's count where the API gives one, so
 * its text is never made.
 */
export type AnswerReader = (answer: ApiFetchAnswer) => unknown;

const parseText: AnswerReader = (a) => JSON.parse(a.text);

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
  /** Entry time it was published at. */
  readonly publishedAt: number;
}

/** A retained message as `GET /v1/topics/{t}/retained` answers it. */
export interface ApiRetained {
  readonly seq: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;
  readonly subject: string;
  /** Entry time it was published at. */
  readonly publishedAt: number;
}

/**
 * A request body handed over as its value, with a bound on the UTF-8 bytes of its JSON text
 * (`jsonBytesAtMost`): a batch publish is not turned into text and parsed back in process.
 */
export class SizedBody {
  constructor(readonly json: unknown, readonly bytesAtMost: number) {}
}

const ALWAYS = () => true;

/** The quorumq topic every MQTT message goes to. */
export const MQTT_TOPIC = "mqtt";

/**
 * Whom a `BrokerApi`'s requests run as with auth on: a connection's token (its principal as the
 * gateway widens it, and the token itself for the leader), or the gateway itself.
 */
export type ApiCaller =
  | { readonly principal: Principal; readonly authorization: string }
  | { readonly asGateway: true };

/** The API as one MQTT connection sees it: as its token's principal (`MqttAccess`). */
export class BrokerApi {
  readonly #fetch: ApiFetch;
  readonly #caller: ApiCaller | undefined;

  /** `caller` undefined: auth off. */
  constructor(fetch: ApiFetch, caller: ApiCaller | undefined) {
    this.#fetch = fetch;
    this.#caller = caller;
  }

  async call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
    read: AnswerReader = parseText,
  ): Promise<ApiAnswer> {
    const answer = await this.#fetch({
      method,
      path,
      headers: { "content-type": "application/json", ...headers },
      ...(body === undefined
        ? {}
        : body instanceof SizedBody
        ? { value: body }
        : { text: JSON.stringify(body) }),
      ...this.#caller,
      ...(signal === undefined ? {} : { signal }),
    });
    // An answer with a count has a body: its text is not made just to see that it is not empty.
    const empty = answer.published === undefined && answer.text === "";
    return { status: answer.status, body: empty ? undefined : read(answer) };
  }

  /**
   * A call that is retried while the cluster has no leader or the outcome is unknown (a write
   * here is always made safe to repeat by its message id or Idempotency-Key), up to `deadline`.
   * `read` makes the answer's body (`readBatchAnswer` for a batch publish). Not retried once `live` says false
   * (its connection ended): nobody waits for the answer, and a late retry of a QoS 2 write is
   * refused anyway (`session_moved`, test/chaos/FINDINGS.md F11).
   */
  async write(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
    timeoutMs = 15_000,
    read: AnswerReader = parseText,
    live: () => boolean = ALWAYS,
  ): Promise<ApiAnswer> {
    const end = Date.now() + timeoutMs;
    for (let attempt = 0;; attempt++) {
      const a = await this.call(method, path, body, headers, undefined, read);
      const retry = a.status === 503 || a.status === 504 || a.status === 421;
      if (!retry || Date.now() >= end || !live()) return a;
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 500)));
    }
  }

  /**
   * Creates the MQTT topic when it is missing (`probe` a 404 of `GET /v1/topics/mqtt`, or none),
   * or turns the one that exists to interest retention when it is unbounded (`mqttTopicUpgrade`).
   * A refusal (no `admin` on the topic) leaves it as it is. Answers the upgrade's PUT when it
   * was made and refused (to be logged), else undefined.
   */
  async ensureTopic(probe?: ApiAnswer): Promise<ApiAnswer | undefined> {
    const path = `/v1/topics/${MQTT_TOPIC}`;
    if (probe === undefined || probe.status === 404) {
      await this.write("PUT", path, MQTT_TOPIC_OPTIONS);
      return undefined;
    }
    const upgrade = probe.status === 200 ? mqttTopicUpgrade(probe.body) : undefined;
    if (upgrade === undefined) return undefined;
    const a = await this.write("PUT", path, upgrade);
    return a.status === 200 || a.status === 201 ? undefined : a;
  }
}

/**
 * The options the gateway creates the `mqtt` topic with: interest retention, so a message is kept
 * only while a session's subscription has not settled it (MQTT has no replay; retained messages
 * are kept apart), and queued messages of an offline session are never dropped by a limit.
 */
export const MQTT_TOPIC_OPTIONS = { retention: "interest" } as const;

/**
 * What `GET /v1/topics/{t}` answers beside the topic's options: its name and its counters
 * (`topicJson` in src/http/render.ts). Every other field of the answer is an option, and the
 * upgrade's PUT carries it as it is: an option added to the API later is kept without a change
 * here. A counter added later would reach the PUT, which refuses an unknown field (400): the
 * upgrade then changes nothing, rather than dropping an option.
 */
const TOPIC_NOT_OPTIONS = new Set([
  "name",
  "firstSeq",
  "nextSeq",
  "messages",
  "bytes",
  "published",
  "subscriptions",
]);

/**
 * The options that turn an existing `mqtt` topic to interest retention, keeping all its others
 * (every field of its description but its name and counters); none (undefined) unless it keeps
 * every message forever: no `retention` given and no limit, as the gateway made it before
 * interest retention existed. A topic an operator bounded, or gave a `retention` (`limits`
 * included), is theirs and left alone.
 */
export function mqttTopicUpgrade(info: unknown): Record<string, unknown> | undefined {
  if (typeof info !== "object" || info === null) return undefined;
  const i = info as Record<string, unknown>;
  if (i.retention !== undefined) return undefined;
  if (i.maxAgeMs !== undefined || i.maxMessages !== undefined || i.maxBytes !== undefined) {
    return undefined;
  }
  const options: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(i)) if (!TOPIC_NOT_OPTIONS.has(k)) options[k] = v;
  return { ...options, ...MQTT_TOPIC_OPTIONS };
}
