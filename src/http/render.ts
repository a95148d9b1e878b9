/**
 * Turning broker results into response JSON. Message bodies are stored as their UTF-8 JSON text;
 * here that text is spliced into the response as it is (decoded to a string, never parsed and
 * re-serialized), so a large body costs one copy on the way out.
 *
 * @module
 */

import type {
  Delivery,
  MessageInput,
  PeekedMessage,
  PublishOutcome,
  QueueInfo,
  ReceiptResult,
  SubscriptionInfo,
  TopicInfo,
  TopicMessage,
} from "../broker/mod.ts";
import type { Answer, Outcome } from "./answer.ts";
import { answerText, deliveredCount } from "./in_process.ts";
import { BROKER_REASON_PROBLEMS, ProblemError } from "./problems.ts";
import { JSON_ONLY_HEADERS, jsonTextResponse } from "./fast_response.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A message as validated from a request (its body any JSON value). */
export interface MessageRequest {
  readonly body: unknown;
  readonly id?: string;
  readonly group?: string;
  readonly delayMs?: number;
  readonly ttlMs?: number;
  readonly headers?: Record<string, string>;
  readonly subject?: string;
  readonly retain?: "set" | "clear";
  readonly once?: { readonly claim: string; readonly slot: number; readonly holder?: string };
}

/** Converts a validated message to the broker's input: the body becomes its JSON text bytes. */
export function toMessageInput(m: MessageRequest): MessageInput {
  return withBody(m, bodyBytes(JSON.stringify(m.body)));
}

/** Bytes of shared buffer the bodies of single publishes are written into (`bodyBytes`). */
const BODY_CHUNK = 64 * 1024;
/** A body's text longer than this (in UTF-16 units) is encoded into a buffer of its own. */
const BODY_IN_CHUNK_MAX = 4 * 1024;
let bodyChunk = new Uint8Array(BODY_CHUNK);
let bodyChunkUsed = 0;

/**
 * The UTF-8 bytes of `text` (`TextEncoder.encode`'s), as a view of a shared buffer: an
 * `ArrayBuffer` of its own per message (what `encode` makes) cost the leader ~0.4 µs more per
 * publish than writing into a buffer shared by many (measured, CPU) and a backing store for the
 * garbage collector to track. The view lives as long as its proposal: the broker copies a body
 * into its own slabs when it stores it (`SlabAllocator`), so no message keeps a chunk alive.
 */
function bodyBytes(text: string | undefined): Uint8Array {
  if (text === undefined || text.length > BODY_IN_CHUNK_MAX) return encoder.encode(text);
  // At most 3 bytes of UTF-8 per UTF-16 unit: room for any text of this length.
  if (bodyChunkUsed + text.length * 3 > BODY_CHUNK) {
    bodyChunk = new Uint8Array(BODY_CHUNK);
    bodyChunkUsed = 0;
  }
  const at = bodyChunkUsed;
  const { written } = encoder.encodeInto(text, bodyChunk.subarray(at));
  bodyChunkUsed = at + written;
  return bodyChunk.subarray(at, at + written);
}

/** The broker's input for `m` with `body` as its bytes (`toMessageInput`'s, bytes given). */
export function withBody(m: MessageRequest, body: Uint8Array): MessageInput {
  // Fields assigned one by one (same keys, same order) rather than spread from conditional
  // object literals: eight spreads per published message were ~3 µs of a leader's CPU.
  const out: { -readonly [K in keyof MessageInput]: MessageInput[K] } = { body };
  if (m.id !== undefined) out.id = m.id;
  if (m.group !== undefined) out.group = m.group;
  if (m.delayMs !== undefined) out.delayMs = m.delayMs;
  if (m.ttlMs !== undefined) out.ttlMs = m.ttlMs;
  if (m.headers !== undefined) out.headers = m.headers;
  if (m.subject !== undefined) out.subject = m.subject;
  if (m.retain !== undefined) out.retain = m.retain;
  if (m.once !== undefined) out.once = m.once;
  return out;
}

/**
 * `toMessageInput` for each message of a batch, with one UTF-8 encode for all the bodies: a
 * `TextEncoder.encode` per body was ~0.7-2 µs of the leader's CPU per message of a 100-message
 * publish, one per request costs its share of ~0.7 µs (JSON.stringify included). Each body is a
 * view of the one buffer. The views line up with the JSON texts only when every character is
 * ASCII (one byte each: the bytes then number the characters); otherwise each body is encoded
 * alone, as `toMessageInput` does.
 */
export function toMessageInputs(ms: readonly MessageRequest[]): MessageInput[] {
  const texts: string[] = [];
  let chars = 0;
  for (const m of ms) {
    const text: string | undefined = JSON.stringify(m.body);
    if (text === undefined) return ms.map(toMessageInput);
    texts.push(text);
    chars += text.length;
  }
  const all = encoder.encode(texts.join(""));
  if (all.length !== chars) return ms.map(toMessageInput);
  const out: MessageInput[] = [];
  let at = 0;
  for (let i = 0; i < ms.length; i++) {
    const end = at + texts[i].length;
    out.push(withBody(ms[i], all.subarray(at, end)));
    at = end;
  }
  return out;
}

/** The stored body text; a body that is not JSON text (not written by this API) is a string. */
function bodyText(body: Uint8Array): string {
  const text = decoder.decode(body);
  // Stored by toMessageInput, so always JSON; guard anyway so one bad entry cannot break JSON.
  return text.length > 0 ? text : "null";
}

/**
 * `{ messages: [...] }` for a receive, bodies spliced in. One string appended to per message,
 * `null` and `{}` written as they are: a `map` of template strings joined, with `JSON.stringify`
 * of the (mostly empty) headers, group and subject, cost the leader ~4 µs per message pushed to a
 * consumer; this is about a third of it.
 */
export function renderDeliveries(messages: readonly Delivery[]): string {
  const bodies = bodyTexts(messages);
  let out = `{"messages":[`;
  for (let k = 0; k < messages.length; k++) {
    const m = messages[k];
    out += `${k === 0 ? "" : ","}{"seq":${m.seq},"id":${JSON.stringify(m.id)},"body":${
      bodies[k]
    },"headers":${headersJson(m.headers)},"group":${stringOrNull(m.group)},"subject":${
      stringOrNull(m.subject)
    },"attempt":${m.attempt},"receipt":${
      JSON.stringify(m.receipt)
    },"leaseExpiresAt":${m.leaseExpiresAt},"publishedAt":${m.publishedAt}}`;
  }
  return out + "]}";
}

/**
 * `bodyText` of each delivery's body, decoded in one call when every byte decodes to one code
 * unit (ASCII, the common case): a decode per body was ~0.5-1 µs of the leader's CPU per
 * message pushed. The text is then cut at the bodies' byte offsets; otherwise (a multi-byte
 * character somewhere) each body is decoded alone.
 */
function bodyTexts(messages: readonly Delivery[]): string[] {
  let total = 0;
  for (let k = 0; k < messages.length; k++) total += messages[k].body.length;
  if (messages.length < 2 || total > BODIES_DECODED_AT_ONCE) {
    return messages.map((m) => bodyText(m.body));
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (let k = 0; k < messages.length; k++) {
    all.set(messages[k].body, at);
    at += messages[k].body.length;
  }
  const text = decoder.decode(all);
  if (text.length !== total) return messages.map((m) => bodyText(m.body));
  const out = new Array<string>(messages.length);
  at = 0;
  for (let k = 0; k < messages.length; k++) {
    const n = messages[k].body.length;
    out[k] = n > 0 ? text.slice(at, at + n) : "null";
    at += n;
  }
  return out;
}

/** Most body bytes `bodyTexts` copies into one buffer (larger answers decode body by body). */
const BODIES_DECODED_AT_ONCE = 4 * 1024 * 1024;

/** `JSON.stringify(headers ?? {})`, without it for no headers. */
function headersJson(headers: Readonly<Record<string, string>> | undefined): string {
  if (headers === undefined) return "{}";
  for (const _ in headers) return JSON.stringify(headers);
  return "{}";
}

/** `JSON.stringify(s ?? null)`. */
function stringOrNull(s: string | undefined): string {
  return s === undefined ? "null" : JSON.stringify(s);
}

/** `{ messages: [...], nextSeq }` for a topic log read, bodies spliced in. */
export function renderTopicMessages(messages: readonly TopicMessage[], nextSeq: number): string {
  const parts = messages.map((m) =>
    `{"seq":${m.seq},"id":${JSON.stringify(m.id)},"body":${bodyText(m.body)},` +
    `"headers":${JSON.stringify(m.headers ?? {})},"group":${JSON.stringify(m.group ?? null)},` +
    `"subject":${JSON.stringify(m.subject ?? null)},"publishedAt":${m.publishedAt}}`
  );
  return `{"messages":[${parts.join(",")}],"nextSeq":${nextSeq}}`;
}

/** `{ messages: [...], nextSeq }` for a peek, bodies spliced in. */
export function renderPeeked(messages: readonly PeekedMessage[], nextSeq: number): string {
  const parts = messages.map((m) =>
    `{"seq":${m.seq},"id":${JSON.stringify(m.id)},"state":"${m.state}","attempt":${m.attempt},` +
    `"body":${bodyText(m.body)},"headers":${JSON.stringify(m.headers)},` +
    `"group":${JSON.stringify(m.group ?? null)},"publishedAt":${m.publishedAt}}`
  );
  return `{"messages":[${parts.join(",")}],"nextSeq":${nextSeq}}`;
}

/** One publish outcome as JSON (a per-item failure inside a batch keeps its reason). */
export function publishJson(o: PublishOutcome): Record<string, unknown> {
  if (o.ok) return { seq: o.seq, id: o.id, duplicate: o.duplicate };
  return { error: { type: BROKER_REASON_PROBLEMS[o.reason], detail: o.detail } };
}

/** A write route's answer: its status and the JSON text (empty for 204). */
export interface WriteAnswer {
  readonly status: number;
  readonly text: string;
  /** A batch publish whose every message was published (or a duplicate): how many (`Answer`). */
  readonly published?: number;
}

/** A write answered 204 with no body (deletes). */
export const noContent = (): WriteAnswer => ({ status: 204, text: "" });

/**
 * A batch publish: 201 with one result (or `error`) per message, in order. When every message
 * was published, also their count (`published`), and the text is made only when read: the MQTT
 * gateway reads the count in process, and rendering the results (an object and an id per
 * message) for it to scan back was ~1 µs per message of a leader's profile.
 */
export function batchPublished(v: { readonly results: readonly PublishOutcome[] }): WriteAnswer {
  const { results } = v;
  for (let i = 0; i < results.length; i++) {
    if (!results[i].ok) return { status: 201, text: batchText(results) };
  }
  return new PublishedBatch(results);
}

/** The text of a batch publish's answer. */
function batchText(results: readonly PublishOutcome[]): string {
  return JSON.stringify({ results: results.map(publishJson) });
}

/** `batchPublished` of results all published: the text made once, when read. */
class PublishedBatch implements WriteAnswer {
  readonly status = 201;
  readonly published: number;
  #text: string | undefined;
  constructor(readonly results: readonly PublishOutcome[]) {
    this.published = results.length;
  }
  get text(): string {
    return this.#text ??= batchText(this.results);
  }
}

/** Ack, nack or extend: 200 with one status per receipt. */
export function settled(v: { readonly results: readonly ReceiptResult[] }): WriteAnswer {
  return { status: 200, text: renderSettle(v.results) };
}

/**
 * Status for a single publish: 201 new, 200 duplicate. A failure of the single message is the
 * problem of the whole request.
 */
export function singlePublish(o: PublishOutcome): WriteAnswer {
  if (!o.ok) throw new ProblemError(BROKER_REASON_PROBLEMS[o.reason], o.detail);
  // The text `JSON.stringify(publishJson(o))` makes, without the object (one per publish).
  const text = `{"seq":${o.seq},"id":${JSON.stringify(o.id)},"duplicate":${o.duplicate}}`;
  return { status: o.duplicate ? 200 : 201, text };
}

/**
 * `{ results: [...] }` for ack/nack/extend, the text `JSON.stringify` gives, without an object
 * (and a spread) per receipt: a consumer's acks settle up to 1000 receipts a request.
 */
export function renderSettle(results: readonly ReceiptResult[]): string {
  let out = `{"results":[`;
  for (let k = 0; k < results.length; k++) {
    const r = results[k];
    out += `${k === 0 ? "" : ","}{"receipt":${JSON.stringify(r.receipt)},"status":"${r.status}"${
      r.leaseExpiresAt === undefined ? "" : `,"leaseExpiresAt":${r.leaseExpiresAt}`
    }}`;
  }
  return out + "]}";
}

/** A queue as `GET /v1/queues/{q}` answers it: name, config and stats, flat. */
export function queueJson(info: QueueInfo): Record<string, unknown> {
  return { name: info.name, ...info.config, ...info.stats };
}

export function topicJson(info: TopicInfo): Record<string, unknown> {
  return {
    name: info.name,
    ...info.config,
    firstSeq: info.firstSeq,
    nextSeq: info.nextSeq,
    messages: info.messages,
    bytes: info.bytes,
    published: info.published,
    subscriptions: info.subscriptions,
  };
}

export function subscriptionJson(info: SubscriptionInfo): Record<string, unknown> {
  return { topic: info.topic, name: info.name, ...info.config, ...info.stats, cursor: info.cursor };
}

const JSON_HEADERS = JSON_ONLY_HEADERS;
const REPLAYED_JSON_HEADERS = { "content-type": "application/json", "idempotent-replayed": "true" };

/** Answers JSON text (already serialized), with the replay marker when it is a replay. */
export function jsonAnswer(status: number, text: string, replayed: boolean): Answer {
  // Shared records: nothing is allocated per answer but the answer itself.
  return { status, headers: replayed ? REPLAYED_JSON_HEADERS : JSON_HEADERS, text };
}

/**
 * A write route's answer (`WriteAnswer`) as `jsonAnswer` answers its text; one with a count
 * (`published`) keeps it, its text made only when read.
 */
export function writeAnswerOf(w: WriteAnswer, replayed: boolean): Answer {
  if (w.published === undefined) return jsonAnswer(w.status, w.text, replayed);
  return new CountedAnswer(w, replayed ? REPLAYED_JSON_HEADERS : JSON_HEADERS);
}

/** `writeAnswerOf` of an answer with a count. */
class CountedAnswer implements Answer {
  readonly status: number;
  readonly published: number | undefined;
  constructor(readonly write: WriteAnswer, readonly headers: Readonly<Record<string, string>>) {
    this.status = write.status;
    this.published = write.published;
  }
  get text(): string {
    return this.write.text;
  }
}

/**
 * The `Response` of a handler's outcome. `inProcess` (the request's, `isInProcess`): its caller
 * reads the text from `answerText` and never the body, so the answer has none. A body with a
 * status other than 200 has Deno build a native response for `Deno.serve` (~2.5 µs per answer,
 * and a finalizer), wasted on an in-process answer.
 */
export function responseOf(outcome: Outcome, inProcess: boolean): Response {
  if (outcome instanceof Response) return outcome;
  const { status, text, headers } = outcome;
  if (headers === JSON_HEADERS && !inProcess && status !== 204) {
    // A publish's 201 and the like: Deno's fast form of a JSON answer (`fast_response.ts`).
    const response = jsonTextResponse(status, text);
    answerText.set(response, text);
    if (outcome.delivered !== undefined) deliveredCount.set(response, outcome.delivered);
    return response;
  }
  // Records, not a `Headers`: `new Response` copies what it is given (~2 µs less per answer).
  const response = new Response(status === 204 || inProcess ? null : text, { status, headers });
  // The in-process caller reads the text back from here rather than through the body stream.
  if (status !== 204) answerText.set(response, text);
  if (outcome.delivered !== undefined) deliveredCount.set(response, outcome.delivered);
  return response;
}

/** JSON text answered as a `Response` (routes whose answer no stream takes directly). */
export function jsonResponse(status: number, text: string, inProcess: boolean): Response {
  return responseOf(jsonAnswer(status, text, false), inProcess);
}
