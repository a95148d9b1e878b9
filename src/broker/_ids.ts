/**
 * Remembered message ids (dedup and status) and the Idempotency-Key table. Both expire by entry
 * time only (docs/reliability.md item 6): never by a node's clock. Folder-private.
 *
 * @module
 */

import { answerBytes } from "./_answer_bytes.ts";
import type { StoredAnswer } from "./_answers.ts";

/** A remembered message id. `live` while the message is stored, then how it ended. */
export interface IdRecord {
  readonly id: string;
  readonly seq: number;
  state: "live" | "acked" | "dead";
  /** The attempt that settled it (acked) or the deliveries made (dead). */
  attempt: number;
  readonly expiresAt: number;
}

/**
 * Ids of one queue (or subscription) within its dedup window, in insertion order (a Map keeps
 * it), so expiry pops from the front. A window that shrank leaves later entries expiring before
 * the front: lookups check `expiresAt` so those count as forgotten anyway.
 */
export class IdTable {
  readonly byId = new Map<string, IdRecord>();
  /** Settled records by seq, so a receipt of a settled message can be told apart. */
  readonly settledBySeq = new Map<number, IdRecord>();

  /** The live record for `id` at `now`, or undefined if never seen or expired. */
  lookup(id: string, now: number): IdRecord | undefined {
    const r = this.byId.get(id);
    return r !== undefined && r.expiresAt > now ? r : undefined;
  }

  settledAt(seq: number, now: number): IdRecord | undefined {
    const r = this.settledBySeq.get(seq);
    return r !== undefined && r.expiresAt > now ? r : undefined;
  }

  add(id: string, seq: number, expiresAt: number): IdRecord {
    const old = this.byId.get(id);
    if (old !== undefined) {
      this.byId.delete(id);
      this.settledBySeq.delete(old.seq);
    }
    const r: IdRecord = { id, seq, state: "live", attempt: 0, expiresAt };
    this.byId.set(id, r);
    return r;
  }

  /** Restores a record in its original position (snapshot restore appends in order). */
  restore(r: IdRecord): void {
    this.byId.set(r.id, r);
    if (r.state !== "live") this.settledBySeq.set(r.seq, r);
  }

  settle(r: IdRecord, state: "acked" | "dead", attempt: number): void {
    r.state = state;
    r.attempt = attempt;
    if (this.byId.get(r.id) === r) this.settledBySeq.set(r.seq, r);
  }

  /** Forgets records whose window ended, from the front. */
  expire(now: number): void {
    if (this.byId.size === 0) return; // the common case on a hot path: no iterator to make
    for (const [id, r] of this.byId) {
      if (r.expiresAt > now) break;
      this.byId.delete(id);
      if (this.settledBySeq.get(r.seq) === r) this.settledBySeq.delete(r.seq);
    }
  }
}

/** One stored answer of the Idempotency-Key table. */
export interface IdemRecord {
  /** The key as the table holds it: scoped to its owner (`owner` NUL `key`) when it has one. */
  readonly key: string;
  readonly fingerprint: string;
  readonly result: StoredAnswer;
  readonly expiresAt: number;
}

/** Default life of an idempotency key: 24 h of entry time. */
export const IDEM_TTL_MS = 24 * 60 * 60 * 1000;
/** Most idempotency keys held; a new key beyond it is refused (`sessions_full`), none forgotten. */
export const IDEM_KEYS_MAX = 1_000_000;

/** What one key counts against the byte bound (`answerBytes` estimates, plus the map entry). */
export function idemRecordBytes(r: IdemRecord): number {
  return 64 + answerBytes(r.key) + answerBytes(r.fingerprint) + answerBytes(r.result);
}

/**
 * Idempotency keys in insertion order. Entry times never decrease and the TTL is fixed, so the
 * front is always the next to expire. A key is never forgotten inside its window: at the count or
 * byte bound new keys are refused instead (the caller checks `keysMax` and the bytes).
 */
export class IdemTable {
  readonly byKey = new Map<string, IdemRecord>();
  /** The bytes of every key (`idemRecordBytes`). */
  bytes = 0;

  constructor(readonly ttlMs = IDEM_TTL_MS, readonly keysMax = IDEM_KEYS_MAX) {}

  get(key: string): IdemRecord | undefined {
    return this.byKey.get(key);
  }

  put(rec: IdemRecord): void {
    const old = this.byKey.get(rec.key);
    if (old !== undefined) {
      this.byKey.delete(rec.key);
      this.bytes -= idemRecordBytes(old);
    }
    this.byKey.set(rec.key, rec);
    this.bytes += idemRecordBytes(rec);
  }

  /** Forgets `key`; whether it was held. Removal keeps the others' expiry order. */
  delete(key: string): boolean {
    const old = this.byKey.get(key);
    if (old === undefined) return false;
    this.byKey.delete(key);
    this.bytes -= idemRecordBytes(old);
    return true;
  }

  expire(now: number): void {
    for (const [key, r] of this.byKey) {
      if (r.expiresAt > now) break;
      this.byKey.delete(key);
      this.bytes -= idemRecordBytes(r);
    }
  }
}
