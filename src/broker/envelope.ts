/**
 * The bytes of a Raft entry of the broker: a version byte, then the envelope in msgpack. Every
 * entry decodes on its own, on any version of the code (append-only, like the commands).
 *
 * @module
 */

import { Packr } from "msgpackr";
import type { Envelope } from "./commands.ts";

/** Version byte in front of every encoded envelope, so the format can evolve. */
const ENVELOPE_VERSION = 1;

// Plain msgpack maps (no record structures): every entry decodes on its own, on any version.
const packr = new Packr({ useRecords: false, moreTypes: false });

/** Encodes an envelope for a Raft entry: a version byte, then msgpack. */
export function encodeEnvelope(envelope: Envelope): Uint8Array {
  const packed = packr.pack(envelope);
  const out = new Uint8Array(packed.length + 1);
  out[0] = ENVELOPE_VERSION;
  out.set(packed, 1);
  return out;
}

/** Decodes an entry's data; throws on an unknown version or malformed bytes. */
export function decodeEnvelope(data: Uint8Array): Envelope {
  if (data.length < 2) throw new Error(`Cannot decode envelope: ${data.length} bytes is too short`);
  if (data[0] !== ENVELOPE_VERSION) {
    throw new Error(`Cannot decode envelope: unknown version ${data[0]}`);
  }
  const value = packr.unpack(data.subarray(1)) as Envelope;
  if (typeof value !== "object" || value === null || typeof value.ts !== "number") {
    throw new Error("Cannot decode envelope: not an envelope object");
  }
  if (typeof value.cmd !== "object" || value.cmd === null || typeof value.cmd.op !== "string") {
    throw new Error("Cannot decode envelope: the command has no op");
  }
  return value;
}
