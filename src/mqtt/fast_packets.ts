/**
 * The gateway's hottest packets without `mqtt-packet`: a whole PUBLISH without properties read
 * from a read's bytes, and PUBACK / PUBREC / PUBREL / PUBCOMP without properties written. Each
 * gives exactly what `mqtt-packet` gives for such a packet (the same packet object, the same
 * bytes: fast_packets_test.ts compares them); anything else (another packet, a v5 PUBLISH with
 * properties, a packet not whole in the read, a malformed one) is left to `mqtt-packet`, so its
 * checks and errors stay the only ones. Why: its parser calls the `debug` package about twenty
 * times per PUBLISH (an array each, even when off) and keeps its bytes in a buffer list that
 * copies and slices; with its packet objects and one generated buffer per acknowledgement that
 * was ~30-40% of the bytes a leader allocated under QoS 1 load (a sampled heap profile) and
 * ~3-4 µs of CPU per message (docs/mqtt.md, Speed).
 *
 * @module
 */

import type { Buffer } from "node:buffer";
import type { IPublishPacket, Packet } from "mqtt-packet";

/** A PUBLISH read at a position of a read's bytes, and where the next packet starts. */
export interface PublishAt {
  readonly packet: IPublishPacket;
  readonly next: number;
}

/**
 * The PUBLISH at `at` in `bytes` when it is whole there and has no properties (v5: a property
 * length of one zero byte; v3.1 and v3.1.1 have none), as `mqtt-packet`'s parser emits it: `cmd`,
 * `retain`, `qos`, `dup`, `length`, `topic` (UTF-8, decoded as it does), `payload` (a view of
 * `bytes`, not a copy) and `messageId` (QoS 1 and 2 only). Undefined for anything else: the
 * parser reads it. `last` is the topic of the packet before, reused when the bytes are the same
 * (most clients publish to a few topics again and again).
 */
export function publishAt(
  bytes: Buffer,
  at: number,
  version: number,
  last: string | undefined,
): PublishAt | undefined {
  const end = bytes.length;
  if (at + 2 > end) return undefined;
  const first = bytes[at];
  const qos = (first >> 1) & 3;
  if (first >> 4 !== 3 || qos === 3) return undefined;
  // Remaining length: a variable byte integer of at most 4 bytes.
  let length = 0;
  let i = at + 1;
  for (let k = 0, mul = 1;; k++, mul *= 128) {
    if (k === 4 || i >= end) return undefined;
    const c = bytes[i++];
    length += (c & 0x7f) * mul;
    if ((c & 0x80) === 0) break;
  }
  const start = i;
  const stop = start + length;
  if (stop > end || start + 2 > stop) return undefined;
  const topicEnd = start + 2 + ((bytes[start] << 8) | bytes[start + 1]);
  let pos = topicEnd;
  if (pos > stop) return undefined;
  let messageId = 0;
  if (qos > 0) {
    if (pos + 2 > stop) return undefined;
    messageId = (bytes[pos] << 8) | bytes[pos + 1];
    pos += 2;
  }
  if (version === 5) {
    if (pos >= stop || bytes[pos] !== 0) return undefined;
    pos++;
  }
  const topic = sameText(bytes, start + 2, topicEnd, last)
    ? last!
    : bytes.toString("utf8", start + 2, topicEnd);
  const packet = qos === 0
    ? {
      cmd: "publish" as const,
      retain: (first & 1) !== 0,
      qos,
      dup: (first & 8) !== 0,
      length,
      topic,
      payload: bytes.subarray(pos, stop),
    }
    : {
      cmd: "publish" as const,
      retain: (first & 1) !== 0,
      qos: qos as 1 | 2,
      dup: (first & 8) !== 0,
      length,
      topic,
      payload: bytes.subarray(pos, stop),
      messageId,
    };
  return { packet: packet as IPublishPacket, next: stop };
}

/**
 * Where the packet that starts at `at` ends (after its remaining length), which may be past the
 * end of `bytes`; "short" while its fixed header is not whole; "bad" when its remaining length is
 * not a variable byte integer of at most 4 bytes (the parser refuses it).
 */
export function packetEnd(bytes: Uint8Array, at: number): number | "short" | "bad" {
  let length = 0;
  for (let i = at + 1, k = 0, mul = 1; k < 4; i++, k++, mul *= 128) {
    if (i >= bytes.length) return "short";
    const c = bytes[i];
    length += (c & 0x7f) * mul;
    if ((c & 0x80) === 0) return i + 1 + length;
  }
  return "bad";
}

/** Whether `bytes[from, to)` are the ASCII text `text` (a topic of only ASCII characters). */
function sameText(bytes: Uint8Array, from: number, to: number, text: string | undefined): boolean {
  if (text === undefined || text.length !== to - from) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f || bytes[from + i] !== c) return false;
  }
  return true;
}

/** The first byte of each acknowledgement (`mqtt-packet`'s; PUBREL has QoS 1 in its flags). */
export const ACK_FIRST_BYTE: Readonly<Record<string, number>> = {
  puback: 0x40,
  pubrec: 0x50,
  pubrel: 0x62,
  pubcomp: 0x70,
};

/**
 * The bytes of a PUBACK, PUBREC, PUBREL or PUBCOMP as `mqtt-packet` generates them, when it is
 * the plain form (a packet id, no properties, and in v5 reason code 0, which is then left out);
 * undefined for anything else (the generator writes it).
 */
export function ackBytes(p: Packet, version: number): Uint8Array | undefined {
  const first = ACK_FIRST_BYTE[p.cmd];
  if (first === undefined) return undefined;
  const a = p as { messageId?: unknown; reasonCode?: unknown; properties?: unknown; dup?: unknown };
  const id = a.messageId;
  if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > 0xffff) return undefined;
  if (a.dup || a.properties !== undefined) return undefined;
  if (version === 5 && a.reasonCode !== 0) return undefined;
  const out = new Uint8Array(4);
  out[0] = first;
  out[1] = 2;
  out[2] = id >> 8;
  out[3] = id & 0xff;
  return out;
}
