/**
 * Helpers shared by the client's call groups: paths, id generation, and the receive and settle
 * requests that queues and subscriptions have in common.
 *
 * @module
 */

import type { Transport } from "./transport.ts";
import type { NewMessage, ReceivedMessage, ReceiveOptions, SettleResult, Source } from "./types.ts";

/** Per-call options. */
export interface CallOptions {
  signal?: AbortSignal;
  /** Continue an earlier logical call whose outcome was unknown, under its Idempotency-Key. */
  idempotencyKey?: string;
  /** Continue an earlier call that ended `UnknownOutcome` in a session (its `session`, `seq`). */
  resume?: { readonly session: number; readonly seq: number };
}

/** Encodes one path segment. */
export const enc = encodeURIComponent;

/** The path prefix of a source: `/v1/queues/q` or `/v1/topics/t/subscriptions/s`. */
export function sourcePath(source: Source): string {
  if (typeof source === "string") return `/v1/queues/${enc(source)}`;
  if ("queue" in source) return `/v1/queues/${enc(source.queue)}`;
  return `/v1/topics/${enc(source.topic)}/subscriptions/${enc(source.subscription)}`;
}

/**
 * Gives a message without an id a fresh one, once, before the first attempt (a copy; one with an
 * id is itself: the transport takes its JSON text at once, which every attempt sends).
 */
export function withId<T extends NewMessage>(message: T): T & { id: string } {
  return message.id === undefined || message.id === null
    ? { ...message, id: crypto.randomUUID() }
    : message as T & { id: string };
}

/** `POST <prefix>/receive`. */
export async function receiveFrom(
  transport: Transport,
  prefix: string,
  options: ReceiveOptions,
): Promise<ReceivedMessage[]> {
  const { signal, ...body } = options;
  // Receive leases messages, so it is a write: in the session, a retried receive gets the same
  // deliveries back instead of leasing more that nobody would ever see until their leases end.
  const answer = await transport.request({
    method: "POST",
    path: `${prefix}/receive`,
    body,
    mutating: true,
    extraTimeoutMs: options.waitMs ?? 0,
    signal,
  });
  return (answer.body as { messages: ReceivedMessage[] }).messages;
}

/** `POST` of an ack, nack or extend. */
export async function settle(
  transport: Transport,
  path: string,
  body: unknown,
  options?: CallOptions,
): Promise<SettleResult[]> {
  const answer = await transport.request({
    method: "POST",
    path,
    body,
    mutating: true,
    ...options,
  });
  return (answer.body as { results: SettleResult[] }).results;
}

/** One receipt or several, as a list. */
export function list(receipts: string | string[]): string[] {
  return typeof receipts === "string" ? [receipts] : receipts;
}

/** `value` without its undefined fields (so a spread does not override defaults with them). */
export function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
