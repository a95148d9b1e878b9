/**
 * The Idempotency-Key table. It expires by entry time only (docs/reliability.md item 6): never by
 * a node's clock. Remembered message ids are in `_id_table.ts`. Folder-private.
 *
 * @module
 */

import { answerBytes } from "./_answer_bytes.ts";
import type { StoredAnswer } from "./_answers.ts";

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
    // A new key goes to the end: the front changes only if there was none, or if this key moves.
    if (old !== undefined || this.byKey.size === 0) this.#frontUntil = -Infinity;
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
    this.#frontUntil = -Infinity; // it may have been the front
    this.byKey.delete(key);
    this.bytes -= idemRecordBytes(old);
    return true;
  }

  /**
   * When the front key (the next to expire) expires, as the last `expire` found it: `expire`
   * before then returns at once. It runs for every proposal, and walked the map with an iterator
   * and an entry array each time while any key was held. Reset where the front may change (`put`
   * into an empty table or of a held key, `delete`), and by `expire` itself.
   */
  #frontUntil = -Infinity;

  expire(now: number): void {
    // Run for every proposal: with no key, not even an iterator.
    if (this.byKey.size === 0 || now < this.#frontUntil) return;
    for (const r of this.byKey.values()) {
      if (r.expiresAt > now) {
        this.#frontUntil = r.expiresAt;
        return;
      }
      this.byKey.delete(r.key);
      this.bytes -= idemRecordBytes(r);
    }
  }
}
