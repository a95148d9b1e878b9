/**
 * Storing a message in a queue: the one step a publish and a dead-letter move share. A leaf:
 * it knows channels, not the broker state. Folder-private.
 *
 * @module
 */

import { type Channel, MsgState } from "./_channel.ts";
import { GENERATED_ID_PREFIX } from "./validate.ts";
import { storedExtraFields } from "./_shared_headers.ts";

/** A message to store in a queue (a publish or a dead-letter move). */
export interface StoreInput {
  readonly id: string | undefined;
  /** Register the id for dedup and status (publisher-given ids). */
  readonly explicit: boolean;
  readonly buf: Uint8Array;
  readonly off: number;
  readonly len: number;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly group: string | undefined;
  readonly subject: string | undefined;
  readonly delayMs: number;
  readonly ttlMs: number | undefined;
}

/** Stores a message in a queue without dedup or limit checks; returns its id. */
export function storeMessage(q: Channel, s: StoreInput, now: number): string {
  return storeFields(
    q,
    s.id,
    s.explicit,
    s.buf,
    s.off,
    s.len,
    s.headers,
    s.group,
    s.subject,
    s.delayMs,
    s.ttlMs,
    now,
  );
}

/**
 * `storeMessage` field by field, for a publish: every node applies it for every message, and a
 * `StoreInput`, a `NewMsg` and an answer object each were objects per message more for the
 * collector. Stores it at seq `q.nextSeq` (read it before the call); returns its id.
 */
export function storeFields(
  q: Channel,
  id: string | undefined,
  explicit: boolean,
  buf: Uint8Array,
  off: number,
  len: number,
  headers: Readonly<Record<string, string>> | undefined,
  group: string | undefined,
  subject: string | undefined,
  delayMs: number,
  ttlMs: number | undefined,
  now: number,
): string {
  const seq = q.nextSeq;
  const msgId = id ?? generatedId(q, seq);
  const rec = explicit ? q.ids.add(msgId, seq, now + q.config.dedupWindowMs) : undefined;
  const ttl = q.config.messageTtlMs;
  const ttlEnd = ttlMs === undefined ? ttl : ttl === undefined ? ttlMs : Math.min(ttl, ttlMs);
  const delayed = delayMs > 0;
  q.insertFields(
    seq,
    msgId,
    rec,
    buf,
    off,
    len,
    storedExtraFields(headers, group, subject),
    now,
    ttlEnd === undefined ? Infinity : now + ttlEnd,
    delayed ? MsgState.Delayed : MsgState.Ready,
    delayed ? now + delayMs : 0,
  );
  q.published++;
  return msgId;
}

/** The ord of the queue whose generated-id prefix was made last, and that prefix (`~<ord>.`). */
let prefixOrd = -1;
let prefix = "";

/**
 * The id of a message published without one: `~<ord>.<seq>` in base 36. The prefix is made once
 * per run of publishes to one queue (a batch entry's are), not once per message.
 */
function generatedId(q: Channel, seq: number): string {
  if (prefixOrd !== q.ord) {
    prefixOrd = q.ord;
    prefix = `${GENERATED_ID_PREFIX}${q.ord.toString(36)}.`;
  }
  return prefix + seq.toString(36);
}
