/**
 * Frame codec for node-to-node links: one version byte, then msgpackr of an array of Raft
 * `Message`s. The decoder checks the shape of every message it returns, because a frame comes
 * from the network: a peer running other code must not hand the Raft core a malformed message.
 *
 * @module
 */

import { Packr, RESET_BUFFER_MODE } from "msgpackr";
import type { Message, MessageType, SnapshotChunk } from "../raft/mod.ts";

/** The only frame format this code writes and reads. Bump it for any incompatible change. */
export const FRAME_VERSION_V1 = 1;

const MESSAGE_TYPES: ReadonlySet<string> = new Set<MessageType>([
  "prevote",
  "prevote_resp",
  "vote",
  "vote_resp",
  "append",
  "append_resp",
  "heartbeat",
  "heartbeat_resp",
  "snapshot",
  "snapshot_resp",
  "timeout_now",
  "read_index",
  "read_index_resp",
  "transfer_leader",
]);

// Records mode with inline structure definitions: every frame is self-describing, so the two
// ends share no state and a reconnect needs no renegotiation.
const packr = new Packr({ useRecords: true, mapsAsObjects: true });

/** Encodes one frame. The result is a fresh buffer the caller may keep (msgpackr reuses its own). */
export function encodeFrame(msgs: readonly Message[]): Uint8Array {
  const body = packr.pack(msgs);
  const frame = new Uint8Array(1 + body.byteLength);
  frame[0] = FRAME_VERSION_V1;
  frame.set(body, 1);
  return frame;
}

const VERSION_PART = new Uint8Array([FRAME_VERSION_V1]);

/**
 * The same frame as `encodeFrame`, as two parts (the version byte, then the body as msgpackr
 * left it in its own buffer): valid only until the next encode, so hand them at once to a
 * socket that copies them (`LinkSocket.send`). It saves copying the body into a frame buffer of
 * its own, which the socket copies again: for a 30 KB append, an allocation of that size per
 * follower (under the node's malloc settings, a mapping of its own: ~100 µs). Packed with
 * `RESET_BUFFER_MODE`, so the next frame is written over the same bytes: otherwise msgpackr moves
 * on through its buffer and, every few appends, replaces it with a new one (and grows it
 * mid-frame, copying the frame so far): an 82 KB append took 180-270 µs to frame, now ~40.
 */
export function encodeFrameParts(msgs: readonly Message[]): readonly [Uint8Array, Uint8Array] {
  return [VERSION_PART, packr.pack(msgs, RESET_BUFFER_MODE)];
}

/** The outcome of decoding one frame. A failure is a value: the link closes with `reason`. */
export type DecodeResult =
  | { readonly ok: true; readonly messages: Message[] }
  | { readonly ok: false; readonly reason: string };

/** Decodes and validates one frame. Never throws on bad input. */
export function decodeFrame(frame: Uint8Array): DecodeResult {
  if (frame.byteLength < 2) {
    return { ok: false, reason: `frame too short (${frame.byteLength} bytes)` };
  }
  if (frame[0] !== FRAME_VERSION_V1) {
    return { ok: false, reason: `unknown frame version ${frame[0]}` };
  }
  let value: unknown;
  try {
    value = packr.unpack(frame.subarray(1));
  } catch (err) {
    return { ok: false, reason: `msgpack decode failed: ${errorText(err)}` };
  }
  if (!Array.isArray(value)) return { ok: false, reason: "frame body is not an array" };
  const messages: Message[] = [];
  for (let i = 0; i < value.length; i++) {
    const problem = checkMessage(value[i]);
    if (problem !== undefined) return { ok: false, reason: `message ${i}: ${problem}` };
    messages.push(value[i] as Message);
  }
  // No scan for strings msgpackr's JS reader shortens (over 64 bytes, led by U+FEFF:
  // `long_bom_string.ts`): a link frame's strings are the message type (one of a set), node and
  // cluster ids (`[A-Za-z0-9._-]`, by the config and the membership API), incarnations (hex) and
  // record keys, so a node never sends one; bytes that may hold anything (entries, snapshot
  // chunks, contexts) are bins, which msgpackr hands over untouched. A peer that sent one anyway
  // holds the secret and could send the shortened value itself. The scan cost ~0.75 µs per entry
  // on every frame (190 µs for a 256-entry append), for nothing a node sends.
  return { ok: true, messages };
}

/**
 * Checks one decoded message and turns msgpackr's Buffers into plain Uint8Array views (same
 * memory, no copy), so consumers see exactly the types of `cluster/raft/types.ts`.
 * Returns a description of the first problem, or undefined.
 */
function checkMessage(m: unknown): string | undefined {
  if (typeof m !== "object" || m === null) return "not an object";
  const r = m as Record<string, unknown>;
  if (typeof r.type !== "string" || !MESSAGE_TYPES.has(r.type)) return `bad type ${String(r.type)}`;
  for (const key of ["clusterId", "from", "to"]) {
    if (typeof r[key] !== "string") return `${key} is not a string`;
  }
  for (const key of ["term", "logTerm", "index", "commit"]) {
    if (typeof r[key] !== "number") return `${key} is not a number`;
  }
  if (r.reject !== undefined && typeof r.reject !== "boolean") return "reject is not a boolean";
  for (const key of ["incarnation", "toIncarnation"]) {
    if (r[key] !== undefined && (typeof r[key] !== "string" || (r[key] as string).length > 64)) {
      return `${key} is not a short string`;
    }
  }
  if (r.rejectHint !== undefined && typeof r.rejectHint !== "number") return "bad rejectHint";
  if (r.context !== undefined) {
    if (!(r.context instanceof Uint8Array)) return "context is not bytes";
    r.context = plainBytes(r.context);
  }
  if (r.entries !== undefined) {
    if (!Array.isArray(r.entries)) return "entries is not an array";
    for (const e of r.entries) {
      const problem = checkEntry(e);
      if (problem !== undefined) return problem;
    }
  }
  if (r.snapshot !== undefined) return checkChunk(r.snapshot);
  return undefined;
}

function checkEntry(e: unknown): string | undefined {
  if (typeof e !== "object" || e === null) return "entry is not an object";
  const r = e as Record<string, unknown>;
  if (typeof r.term !== "number" || typeof r.index !== "number" || typeof r.kind !== "number") {
    return "entry term/index/kind is not a number";
  }
  if (!(r.data instanceof Uint8Array)) return "entry data is not bytes";
  (r as { data: Uint8Array }).data = plainBytes(r.data);
  return undefined;
}

function checkChunk(c: unknown): string | undefined {
  if (typeof c !== "object" || c === null) return "snapshot is not an object";
  const r = c as Record<string, unknown> & Partial<SnapshotChunk>;
  if (typeof r.meta !== "object" || r.meta === null) return "snapshot meta is missing";
  if (typeof r.offset !== "number" || typeof r.totalBytes !== "number") {
    return "bad snapshot offset";
  }
  if (typeof r.done !== "boolean") return "snapshot done is not a boolean";
  if (!(r.data instanceof Uint8Array)) return "snapshot data is not bytes";
  (r as { data: Uint8Array }).data = plainBytes(r.data);
  return undefined;
}

function plainBytes(b: Uint8Array): Uint8Array {
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * A cheap upper-bound guess of a message's encoded size, for the send queue's byte bound. Exact
 * sizes would cost an encode per message; the bound only needs to stop runaway memory.
 */
export function estimateMessageBytes(m: Message): number {
  let bytes = 96;
  if (m.entries !== undefined) {
    for (const e of m.entries) bytes += 24 + e.data.byteLength;
  }
  if (m.snapshot !== undefined) bytes += 128 + m.snapshot.data.byteLength;
  if (m.context !== undefined) bytes += m.context.byteLength;
  return bytes;
}

/** The message of an unknown thrown value, for log details and close reasons. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
