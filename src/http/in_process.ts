/**
 * Bodies of requests and answers that never leave the process: the stream (`stream.ts`) runs
 * each of its requests through the app in process, so the JSON text it holds is handed over as
 * text instead of through a `ReadableStream` (building, reading and releasing a body stream per
 * request was ~9% of a leader's CPU under 256 publishes in flight). The app reads them with the
 * same limits and checks as a body from the network (`body.ts`).
 *
 * @module
 */

import type { Principal } from "./auth.ts";

/**
 * A value carried by an object under a private symbol: what a `WeakMap` keyed by the object
 * would hold, at less cost. Four maps were written per stream request (text, signal, principal,
 * answer text), and weak-map entries on short-lived objects are slow to add and slow for the
 * garbage collector (ephemerons): ~2 µs per request more than a property, measured. A symbol no
 * caller can name cannot be set from outside this module, nor from the network.
 */
class Slot<K extends object, V> {
  readonly #key: symbol;
  constructor(name: string) {
    this.#key = Symbol(name);
  }
  get(o: K): V | undefined {
    return (o as unknown as Record<symbol, V | undefined>)[this.#key];
  }
  set(o: K, v: V): void {
    (o as unknown as Record<symbol, V>)[this.#key] = v;
  }
}

/**
 * Principals of in-process requests authenticated already (a stream's, when it opened; the MQTT
 * gateway's, at CONNECT): the app's auth step takes them from here instead of checking a token
 * again for every request. Never set for a request from the network.
 */
export const streamPrincipals = new Slot<Request, Principal>("quorumq.principal");

/** The JSON text of an in-process request (it is built with no body stream). */
export const inProcessRequestText = new Slot<Request, string>("quorumq.requestText");

/**
 * The abort signals of in-process requests (a stream's `cancel`, or its stream closing). Kept
 * here rather than given to `new Request`: a request made with a signal follows it through a
 * signal of its own, which doubled the cost of building one (~18 µs more per request), and only a
 * long poll (`receive.ts`) listens. Read with `requestSignal`.
 */
export const inProcessSignals = new Slot<Request, AbortSignal>("quorumq.signal");

/** The signal that ends `request`: an in-process request's own, else the request's. */
export function requestSignal(request: Request): AbortSignal {
  return inProcessSignals.get(request) ?? request.signal;
}

/** Marks the requests made in process (the stream's, the MQTT gateway's): `isInProcess`. */
const inProcessMark = new Slot<Request, true>("quorumq.inProcess");

/** Marks `request` as made in process: its answer is read from `answerText`, never its body. */
export function markInProcess(request: Request): void {
  inProcessMark.set(request, true);
}

/**
 * Whether `request` was made in process. Its caller reads the answer's status, the headers it
 * relays and the text in `answerText`; no browser sees it (no CORS), no body is read.
 */
export function isInProcess(request: Request): boolean {
  return inProcessMark.get(request) === true;
}

/** The JSON text of an answer made from text (`jsonAnswer`), read back without its stream. */
export const answerText = new Slot<Response, string>("quorumq.answerText");

/**
 * How many messages a receive's answer (`answerText`) delivers: a stream consumer counts the
 * credit a push uses from here instead of parsing the answer again.
 */
export const deliveredCount = new WeakMap<Response, number>();

/**
 * An in-process request with its JSON text handed over (no body stream), run as `principal`
 * when given (authenticated already by its caller, like a stream's requests).
 */
export function inProcessRequest(
  url: string,
  init: { method: string; headers: Headers; signal?: AbortSignal },
  text: string | undefined,
  principal?: Principal,
): Request {
  const request = new Request(url, init);
  markInProcess(request);
  if (text !== undefined) inProcessRequestText.set(request, text);
  if (principal !== undefined) streamPrincipals.set(request, principal);
  return request;
}

/** An answer's JSON text: read back from `answerText` when it was made from text. */
export async function answerTextOf(response: Response): Promise<string> {
  const text = answerText.get(response);
  if (text === undefined) return await response.text();
  await response.body?.cancel();
  return text;
}
