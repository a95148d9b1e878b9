/**
 * The client stream's frames on the wire (docs/stream.md): byte 0 the version, then one msgpack
 * map or a batch (an array) of them; the `req` frame as the stream writes it in place, and the
 * `res` frame read as an answer.
 *
 * @module
 */

import { type Out, packValue, unpackValue, write, writeString } from "./msgpack.ts";

export const VERSION = 1;
/** Most frames in one batch the node takes. */
export const BATCH_FRAMES_MAX = 4096;

export type Frame = Record<string, unknown>;

/** One frame, or a batch of frames (a msgpack array) in one message. */
export function encode(frame: Frame | Frame[]): Uint8Array {
  return packValue(frame, VERSION);
}

/**
 * A node's answer as the transport reads it: status, headers (lower-case names) and JSON text,
 * exactly what `toResponse` puts in a `Response`, without building one (`StreamPool.call`).
 */
export interface StreamAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The answer's text; null when it has none (204, or a frame without `j`). */
  readonly text: string | null;
}

/** `t: "req", i: ` as msgpack: a fixstr key `t`, the fixstr `req`, the key `i`. */
const REQ_HEAD = new Uint8Array([0xa1, 0x74, 0xa3, 0x72, 0x65, 0x71, 0xa1, 0x69]);

/** A frame, or a batch of them (an array), or undefined when the message cannot be read. */
export function decode(data: unknown): Frame | unknown[] | undefined {
  if (!(data instanceof ArrayBuffer) || data.byteLength < 2) return undefined;
  const bytes = new Uint8Array(data);
  if (bytes[0] !== VERSION) return undefined;
  try {
    const v = unpackValue(bytes.subarray(1));
    if (Array.isArray(v)) return v;
    return typeof v === "object" && v !== null ? v as Frame : undefined;
  } catch {
    return undefined;
  }
}

/** A `req` frame, as `requestFrame` makes it with these headers, written to `out`. */
export function writeReq(
  out: Out,
  i: number,
  method: string,
  path: string,
  idempotencyKey: string | undefined,
  session: string | undefined,
  bodyText: string | undefined,
): void {
  out.room(1 + REQ_HEAD.length);
  out.bytes[out.at++] = bodyText === undefined ? 0x85 : 0x86; // a map: t, i, m, p, h (and j)
  out.bytes.set(REQ_HEAD, out.at);
  out.at += REQ_HEAD.length;
  write(out, i);
  writeString(out, "m");
  writeString(out, method);
  writeString(out, "p");
  writeString(out, path);
  writeString(out, "h");
  out.byte(0x80 + (idempotencyKey === undefined ? 0 : 1) + (session === undefined ? 0 : 1));
  if (idempotencyKey !== undefined) {
    writeString(out, "idempotency-key");
    writeString(out, idempotencyKey);
  }
  if (session !== undefined) {
    writeString(out, "quorumq-session");
    writeString(out, session);
  }
  if (bodyText !== undefined) {
    writeString(out, "j");
    writeString(out, bodyText);
  }
}

export function requestFrame(
  i: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  bodyText: string | undefined,
): Frame {
  const frame: Frame = { t: "req", i, m: method, p: path, h: headers };
  if (bodyText !== undefined) frame.j = bodyText;
  return frame;
}

/** Printable ASCII, no space at either end: a header value `Headers` keeps as it is. */
const PLAIN_HEADER_VALUE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** A header value as `Headers` has it (trimmed; a `TypeError` when not allowed), as `fetch` does. */
export function headerValue(value: string): string {
  return PLAIN_HEADER_VALUE.test(value) ? value : new Headers([["v", value]]).get("v")!;
}

/** A `res` frame as an answer: its status, its headers (with a content-type), its text. */
export function answerOf(frame: Frame, servedBy?: string): StreamAnswer & { servedBy?: string } {
  const status = frame.s as number;
  const text = typeof frame.j === "string" ? frame.j : null;
  // The frame's own map (lower-case names, string values: the node's `res.h`).
  const given = frame.h;
  const headers: Record<string, string> = typeof given === "object" && given !== null
    ? given as Record<string, string>
    : {};
  if (text !== null && headers["content-type"] === undefined) {
    // A node that predates content-type in res.h.
    headers["content-type"] = status >= 400 ? "application/problem+json" : "application/json";
  }
  const answer = { status, headers, text: status === 204 ? null : text };
  return servedBy === undefined ? answer : { ...answer, servedBy };
}

export function toResponse(frame: Frame): Response {
  const { status, headers, text } = answerOf(frame);
  // The answer's headers as the init's: one header list built, not a `Headers` and a copy.
  return new Response(text, { status, headers });
}
