/**
 * Frames of the forwarding channel (`/cluster/v1/forward`): a follower sends each write it
 * forwards as one binary frame and the leader answers each with one, matched by id, so many
 * requests share one WebSocket and answers may come back in any order. Byte 0 is the format
 * version, the rest msgpack (written by msgpackr). Ping and pong are the links' text frames
 * (cluster/transport).
 *
 * Read by the broker's entry reader (`readEntryValue`), not msgpackr: a forwarded header value or
 * body is a client's data, and msgpackr's JavaScript reader drops a leading U+FEFF from a string
 * over 64 bytes (its native extractor, which this project no longer loads, kept it), so the value
 * a leader stored depended on how it was started. The entry reader reads all these frames hold
 * (maps, arrays, strings, integers, bin) the same in every process.
 *
 * @module
 */

import { Packr, RESET_BUFFER_MODE } from "msgpackr";
import { longStringLedByBom } from "../../cluster/transport/mod.ts";
import { readEntryValue } from "../broker/mod.ts";

export const FORWARD_PATH = "/cluster/v1/forward";
const FORWARD_FRAME_V1 = 1;

/** One forwarded request: method, path with query, headers and body. */
export interface ForwardRequestFrame {
  readonly i: number;
  readonly m: string;
  readonly p: string;
  readonly h: [string, string][];
  readonly b?: Uint8Array<ArrayBuffer>;
}

/** The leader's whole answer to request `i`. */
export interface ForwardResponseFrame {
  readonly i: number;
  readonly s: number;
  readonly h: [string, string][];
  readonly b: Uint8Array<ArrayBuffer>;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export function encodeForwardFrame(frame: ForwardRequestFrame | ForwardResponseFrame): Uint8Array {
  // Copied out at once: the shared buffer is written again from the same place (envelope.ts).
  const body = packr.pack(frame, RESET_BUFFER_MODE);
  const out = new Uint8Array(1 + body.byteLength);
  out[0] = FORWARD_FRAME_V1;
  out.set(body, 1);
  return out;
}

/** Decodes a frame from the network; undefined when it is not a well-formed one. */
function decode(bytes: Uint8Array): Record<string, unknown> | undefined {
  if (bytes.byteLength < 2 || bytes[0] !== FORWARD_FRAME_V1) return undefined;
  const read = readEntryValue(bytes, 1);
  let v: unknown;
  if (read.ok) v = read.value;
  else {
    // What the entry reader does not read (a float32, a 64-bit integer: no frame this code
    // writes), msgpackr, unless it holds a string msgpackr would shorten by its leading U+FEFF.
    if (longStringLedByBom(bytes, 1, bytes.length) >= 0) return undefined;
    try {
      v = packr.unpack(bytes.subarray(1));
    } catch {
      return undefined;
    }
  }
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? v as Record<string, unknown>
    : undefined;
}

const isHeaders = (h: unknown): h is [string, string][] =>
  Array.isArray(h) &&
  h.every((p) => Array.isArray(p) && typeof p[0] === "string" && typeof p[1] === "string");
const isBytes = (b: unknown): b is Uint8Array<ArrayBuffer> => b instanceof Uint8Array;

export function decodeForwardRequest(bytes: Uint8Array): ForwardRequestFrame | undefined {
  const v = decode(bytes);
  if (
    v === undefined || !Number.isSafeInteger(v.i) || typeof v.m !== "string" ||
    typeof v.p !== "string" || !v.p.startsWith("/") || !isHeaders(v.h) ||
    (v.b !== undefined && !isBytes(v.b))
  ) return undefined;
  return v as unknown as ForwardRequestFrame;
}

export function decodeForwardResponse(bytes: Uint8Array): ForwardResponseFrame | undefined {
  const v = decode(bytes);
  if (
    v === undefined || !Number.isSafeInteger(v.i) || !Number.isInteger(v.s) ||
    (v.s as number) < 100 || (v.s as number) > 599 || !isHeaders(v.h) || !isBytes(v.b)
  ) return undefined;
  return v as unknown as ForwardResponseFrame;
}
