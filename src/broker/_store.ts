/**
 * Storing a message in a queue: the one step a publish and a dead-letter move share. A leaf:
 * it knows channels, not the broker state. Folder-private.
 *
 * @module
 */

import { type Channel, MsgState } from "./_channel.ts";
import type { NewMsg } from "./_msg_store.ts";
import { GENERATED_ID_PREFIX } from "./validate.ts";

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

/** Stores a message in a queue without dedup or limit checks; returns its seq and id. */
export function storeMessage(
  q: Channel,
  s: StoreInput,
  now: number,
): { seq: number; id: string } {
  const seq = q.nextSeq;
  const id = s.id ?? `${GENERATED_ID_PREFIX}${q.ord.toString(36)}.${seq.toString(36)}`;
  const rec = s.explicit ? q.ids.add(id, seq, now + q.config.dedupWindowMs) : undefined;
  const ttl = q.config.messageTtlMs;
  const ttlMs = s.ttlMs === undefined ? ttl : ttl === undefined ? s.ttlMs : Math.min(ttl, s.ttlMs);
  const delayed = s.delayMs > 0;
  const m: NewMsg = {
    seq,
    id,
    rec,
    buf: s.buf,
    off: s.off,
    len: s.len,
    headers: s.headers,
    group: s.group,
    subject: s.subject,
    publishedAt: now,
    expiresAt: ttlMs === undefined ? Infinity : now + ttlMs,
    state: delayed ? MsgState.Delayed : MsgState.Ready,
    attempt: 0,
    at: delayed ? now + s.delayMs : 0,
  };
  q.insert(m);
  q.published++;
  return { seq, id };
}
