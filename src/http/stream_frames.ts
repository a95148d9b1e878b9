/**
 * Frames of the client stream (`/v1/stream`, docs/stream.md): binary WebSocket messages, byte 0
 * the format version, the rest one msgpackr map. Decoding never throws: a frame that is not
 * well formed decodes to a reason, which the stream answers as an error frame.
 *
 * @module
 */

import { Packr, RESET_BUFFER_MODE } from "msgpackr";
import type { Answer } from "./answer.ts";
import { answerText } from "./in_process.ts";
import { ANSWER_HEADERS, BATCH_FRAMES_MAX, OPS_PATHS, STREAM_VERSION } from "./stream_protocol.ts";
import { NOT_READ, readRefused, readStreamMessage, refusedIn, takenValue } from "./stream_read.ts";
import { readEntryValue } from "../broker/mod.ts";
import { longStringLedByBom } from "../../cluster/transport/mod.ts";

export { BATCH_FRAMES_MAX, STREAM_VERSION };

/** A relayed `authorization` on a stream whose token may not relay: answered 403. */
export class RelayRefused extends Error {}

/**
 * A `req` frame's method: any method token, so that a method no route takes gets the app's own
 * 405 with `Allow` (an edge gateway relays whatever its caller sent).
 */
const METHOD = /^[A-Z]{1,16}$/;

/** Client → node. */
export type StreamInFrame =
  | { readonly t: "hello"; readonly token?: string; readonly batch?: boolean }
  | {
    readonly t: "req";
    readonly i: number;
    readonly m: string;
    readonly p: string;
    readonly h?: Record<string, string>;
    /** The JSON body as a msgpack value, or `j`: the JSON body as text (one of the two). */
    readonly b?: unknown;
    readonly j?: string;
  }
  | {
    readonly t: "consume";
    readonly i: number;
    readonly p: string;
    readonly n: number;
    readonly b?: Record<string, unknown>;
    /** Only `authorization`: a relayed caller's token (a relay stream; docs/edge.md). */
    readonly h?: Record<string, string>;
  }
  | { readonly t: "credit"; readonly i: number; readonly n: number }
  | { readonly t: "cancel"; readonly i: number }
  /** A stream opened with `?ping=1`: the client is there (answered `pong`). */
  | { readonly t: "ping" };

/** Node → client. */
export type StreamOutFrame =
  | {
    readonly t: "hello";
    readonly node: string;
    readonly v: number;
    readonly batch?: boolean;
    /** A stream opened with `?ping=1`: send something at least this often (ms). */
    readonly ping?: number;
  }
  | { readonly t: "pong" }
  | {
    readonly t: "res";
    readonly i: number;
    readonly s: number;
    readonly h?: Record<string, string>;
    readonly j?: string;
  }
  | { readonly t: "push"; readonly i: number; readonly j: string }
  | { readonly t: "error"; readonly j: string };

// Packed with `RESET_BUFFER_MODE` and copied out at once: msgpackr writes the next frame over the
// same bytes instead of moving on through its buffer and replacing it with a new one every few
// batches of answers (a fresh buffer of a few 100 KB, and page faults, each time).
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export function encodeStreamFrame(frame: StreamOutFrame | StreamInFrame): Uint8Array {
  const body = packr.pack(frame, RESET_BUFFER_MODE);
  const out = new Uint8Array(1 + body.byteLength);
  out[0] = STREAM_VERSION;
  out.set(body, 1);
  return out;
}

/** A batch of frames in one message: the version byte, then a msgpack array of the maps. */
export function encodeStreamBatch(frames: readonly StreamOutFrame[]): Uint8Array {
  const body = packr.pack(frames, RESET_BUFFER_MODE);
  const out = new Uint8Array(1 + body.byteLength);
  out[0] = STREAM_VERSION;
  out.set(body, 1);
  return out;
}

/** A decoded frame, or why it is not one (with its id when that much could be read). */
export type Decoded =
  | { readonly ok: true; readonly frame: StreamInFrame }
  | { readonly ok: false; readonly reason: string; readonly id?: number; readonly fatal: boolean };

const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isCredit = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
function isHeaders(h: unknown): boolean {
  if (h === undefined) return true;
  if (typeof h !== "object" || h === null || Array.isArray(h)) return false;
  // A loop, not `Object.values(h).every`: no array per frame.
  for (const name in h) {
    if (Object.hasOwn(h, name) && typeof (h as Record<string, unknown>)[name] !== "string") {
      return false;
    }
  }
  return true;
}

/**
 * Decodes one WebSocket message: one frame (a map), or a batch (an array of maps, each checked
 * on its own as a frame, at most `BATCH_FRAMES_MAX`); never throws.
 */
export function decodeStreamMessage(bytes: Uint8Array): Decoded[] {
  const v = unpackMessage(bytes);
  if ("ok" in v) return [v];
  const check = v.bomDropped ? refusedBom : v.refused ? refusedValue : asFrame;
  if (!Array.isArray(v.value)) return [check(v.value)];
  if (v.value.length === 0 || v.value.length > BATCH_FRAMES_MAX) {
    return [bad(`a batch holds 1 to ${BATCH_FRAMES_MAX} frames`, true)];
  }
  return v.value.map(check);
}

/**
 * A frame of a message msgpackr read and that holds a string over 64 bytes led by U+FEFF, which
 * msgpackr's reader drops (`long_bom_string.ts`): refused (400 to its `i`), never altered.
 */
function refusedBom(v: unknown): Decoded {
  const frame = asFrame(v);
  if (!frame.ok) return frame;
  const i = (v as Record<string, unknown>).i;
  return failed(
    isId(i) ? i : undefined,
    "a string over 64 bytes led by U+FEFF in a frame that also holds a non-string map key, " +
      "invalid UTF-8 or nesting over 16 levels cannot be read unaltered; send those otherwise",
  );
}

/**
 * A frame of a message that holds a value a node does not take (`RefusedValue`: a 64-bit integer
 * beyond 2^53, an extension, bin): refused (400 to its `i`) when it holds one, before anything
 * is proposed.
 */
function refusedValue(v: unknown): Decoded {
  const frame = asFrame(v);
  if (!frame.ok) return frame;
  const reason = refusedIn(v);
  if (reason === undefined) return frame;
  const i = (v as Record<string, unknown>).i;
  return failed(isId(i) ? i : undefined, reason);
}

/**
 * The msgpack value of a message, as the stream takes it (`takenValue`: no BigInt, Date or bytes;
 * `refused` when it holds a `RefusedValue`; `bomDropped` when msgpackr read it and it may hold a
 * string it read one character short), or why it cannot be read (fatal).
 */
function unpackMessage(
  bytes: Uint8Array,
):
  | { readonly value: unknown; readonly bomDropped?: boolean; readonly refused?: boolean }
  | Decoded {
  if (bytes.byteLength < 2) return bad("a frame is a version byte and a msgpack map", true);
  if (bytes[0] !== STREAM_VERSION) {
    return bad(
      `frame version ${bytes[0]} is not supported; this node speaks ${STREAM_VERSION}`,
      true,
    );
  }
  // The frames clients send are read by hand; anything else (and any error) by msgpackr.
  const value = readStreamMessage(bytes, 1);
  if (value !== NOT_READ) return { value, refused: readRefused() };
  // Then the broker's entry reader (msgpackr's values, a leading U+FEFF kept: msgpackr's reader
  // drops it from a string over 64 bytes); msgpackr only for what neither reads. Their values
  // are taken by the hand reader's rules (`takenValue`).
  const read = readEntryValue(bytes, 1);
  if (read.ok) return { value: takenValue(read.value), refused: readRefused() };
  try {
    const value = takenValue(packr.unpack(bytes.subarray(1)));
    return {
      value,
      refused: readRefused(),
      bomDropped: longStringLedByBom(bytes, 1, bytes.length) >= 0,
    };
  } catch (error) {
    return bad(`the frame is not msgpack: ${(error as Error).message}`, true);
  }
}

function asFrame(v: unknown): Decoded {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    return bad("the frame is not a msgpack map", true);
  }
  return checkFrame(v as Record<string, unknown>);
}

function checkFrame(v: Record<string, unknown>): Decoded {
  const id = isId(v.i) ? v.i : undefined;
  switch (v.t) {
    case "ping":
      return ok(v);
    case "hello":
      if (v.batch !== undefined && typeof v.batch !== "boolean") {
        return failed(id, "hello: batch must be a boolean");
      }
      return v.token === undefined || typeof v.token === "string"
        ? ok(v)
        : failed(id, "hello: token must be a string");
    case "req":
      if (id === undefined) return failed(id, "req: i must be a non-negative integer");
      if (typeof v.m !== "string" || !METHOD.test(v.m)) {
        return failed(id, "req: m must be an HTTP method (GET, PUT, POST, DELETE, ...)");
      }
      if (!isApiPath(v.p) && !isOpsPath(v.p)) {
        return failed(
          id,
          "req: p must be an API path under /v1/ (not /v1/stream) or /healthz, /readyz, " +
            "/metrics, /openapi.json",
        );
      }
      if (v.j !== undefined && (typeof v.j !== "string" || v.b !== undefined)) {
        return failed(id, "req: j must be JSON text, and a request carries b or j, not both");
      }
      return isHeaders(v.h) ? ok(v) : failed(id, "req: h must map header names to strings");
    case "consume":
      if (id === undefined) return failed(id, "consume: i must be a non-negative integer");
      if (!isApiPath(v.p) || !(v.p as string).endsWith("/receive")) {
        return failed(id, "consume: p must be a receive path (/v1/queues/{q}/receive, ...)");
      }
      if (!isCredit(v.n)) return failed(id, "consume: n (credit) must be a non-negative integer");
      if (v.b !== undefined && (typeof v.b !== "object" || v.b === null || Array.isArray(v.b))) {
        return failed(id, "consume: b must be a map");
      }
      if (v.h !== undefined && !onlyAuthorization(v.h)) {
        return failed(
          id,
          "consume: h may carry only authorization (each round is a new receive, never in a " +
            "session)",
        );
      }
      return ok(v);
    case "credit":
      if (id === undefined || !isCredit(v.n)) return failed(id, "credit: i and n must be integers");
      return ok(v);
    case "cancel":
      return id === undefined ? failed(id, "cancel: i must be a non-negative integer") : ok(v);
    default:
      return failed(id, `unknown frame type ${JSON.stringify(v.t)}`);
  }
}

function isApiPath(p: unknown): boolean {
  return typeof p === "string" && p.startsWith("/v1/") && !p.startsWith("/v1/stream") &&
    p.length <= 4096;
}

function isOpsPath(p: unknown): boolean {
  return typeof p === "string" && p.length <= 4096 && OPS_PATHS.has(p.split("?")[0]);
}

/** A consume frame's `h`: a relayed caller's token (`{ authorization }`) and nothing else. */
function onlyAuthorization(h: unknown): boolean {
  if (!isHeaders(h)) return false;
  const names = Object.keys(h as Record<string, string>);
  return names.length === 1 && names[0].toLowerCase() === "authorization";
}

const ok = (v: Record<string, unknown>): Decoded => ({
  ok: true,
  frame: v as unknown as StreamInFrame,
});
const bad = (reason: string, fatal: boolean): Decoded => ({ ok: false, reason, fatal });
const idOf = (id: number | undefined) => (id === undefined ? {} : { id });
/** A frame that is not valid, answered to its `i` when it has one; the stream stays open. */
const failed = (id: number | undefined, reason: string): Decoded => ({
  ok: false,
  reason,
  fatal: false,
  ...idOf(id),
});

/** The `res` frame of an app answer: status, the headers that matter, the JSON text. */
export async function answerFrame(i: number, response: Response): Promise<StreamOutFrame> {
  // The text the answer was made from, when the app made it from text (never read twice).
  const known = answerText.get(response);
  const text = known === undefined ? await response.text() : known;
  const h: Record<string, string> = {};
  let any = false;
  for (const name of ANSWER_HEADERS) {
    const value = response.headers.get(name);
    if (value !== null) {
      h[name] = value;
      any = true;
    }
  }
  return {
    t: "res",
    i,
    s: response.status,
    ...(any ? { h } : {}),
    ...(text !== "" ? { j: text } : {}),
  };
}

/**
 * The headers a `res` frame carries of an answer's headers (`ANSWER_HEADERS`), or undefined for
 * none; kept per headers record, as most answers share one of a few (`render.ts`).
 */
const frameHeaders = new WeakMap<object, Record<string, string> | null>();

function frameHeadersOf(headers: Readonly<Record<string, string>>): Record<string, string> | null {
  let h = frameHeaders.get(headers);
  if (h === undefined) {
    const kept: Record<string, string> = {};
    let any = false;
    for (const name of ANSWER_HEADERS) {
      if (headers[name] !== undefined) {
        kept[name] = headers[name];
        any = true;
      }
    }
    h = any ? kept : null;
    frameHeaders.set(headers, h);
  }
  return h;
}

/** The `res` frame of a handler's own answer (`direct.ts`): what `answerFrame` makes of it. */
export function directFrame(i: number, answer: Answer): StreamOutFrame {
  const h = frameHeadersOf(answer.headers);
  const frame: { t: "res"; i: number; s: number; h?: Record<string, string>; j?: string } = {
    t: "res",
    i,
    s: answer.status,
  };
  if (h !== null) frame.h = h;
  if (answer.text !== "") frame.j = answer.text;
  return frame;
}
