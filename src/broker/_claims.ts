/**
 * Claims of a topic: who holds a client's session now (MQTT: the connection of a client id, on
 * whichever node), replicated so that every node sees a new holder when it applies the take and
 * closes the old connection if it has it. A claim owns some of the topic's subscriptions (the
 * session's): they end with it, `expireMs` after its release (MQTT's session expiry), at once for
 * 0, never when absent. A take or release of another holder is a no-op, so a connection that
 * was taken over can never end its successor's session. Folder-private.
 *
 * @module
 */

import { EventKind, type TimedEvent } from "./_structs.ts";

export interface Claim {
  /** The connection holding it; null once released (the session waits for its client). */
  holder: string | null;
  subscriptions: readonly string[];
  /** How long it lives on once released; undefined: for good. */
  expireMs: number | undefined;
  data: string | undefined;
  /** Entry time it ends at (released with an expiry), else Infinity. */
  endAt: number;
  /** Names it in its timed event (unique in the topic, never reused). */
  readonly no: number;
  /**
   * Moves up with every take (from the table's counter): a node whose view of the claim has an
   * older stamp than a connection's own take has not applied that take yet.
   */
  stamp: number;
  /** Packet ids a PUBREL is owed for (`claim_settle`), until `claim_free` names them. */
  readonly pubrels: Set<number>;
}

/** A held slot (`MessageInput.once`): the message it was published as, and until when. */
export interface Slot {
  readonly seq: number;
  readonly id: string;
  /** `fingerprint` of its subject and body: only the same message is a duplicate. */
  readonly fp: number;
  readonly expiresAt: number;
}

/** The fingerprint of a slot held for any message (restored from the first snapshot layout). */
export const ANY_MESSAGE = -1;

/** How long a slot is held when nothing frees it (like an Idempotency-Key). */
export const SLOT_TTL_MS = 24 * 3600 * 1000;

/** A snapshot row of slots: [key, [[slot, seq, id, fp, expiresAt], ...]]. */
export type SlotRow = [string, [number, number, string, number, number][]];

/** FNV-1a of a subject and a body: deterministic on every replica. */
export function fingerprint(subject: string | undefined, body: Uint8Array): number {
  let h = 0x811c9dc5;
  const s = subject ?? "";
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ 0x100, 0x01000193); // between subject and body: no byte is 0x100
  for (let i = 0; i < body.length; i++) h = Math.imul(h ^ body[i], 0x01000193);
  return h >>> 0;
}

/** Changes whose keys `changedSince` remembers. */
const RECENT_MAX = 4096;

/** Most slots a claim holds (MQTT packet ids are 1..65535). */
export const SLOT_MAX = 65535;

/**
 * A snapshot row: [key, holder, subscriptions, expireMs | null, data | null, endAt, no, stamp,
 * pubrels].
 */
export type ClaimRow = [
  string,
  string | null,
  string[],
  number | null,
  string | null,
  number,
  number,
  number,
  number[],
];

export class ClaimTable {
  readonly byKey = new Map<string, Claim>();
  /**
   * Held slots by claim key. Apart from the claims: a client whose session ended (or started
   * clean) may still send a QoS 2 PUBLISH again, and it must not apply twice.
   */
  readonly slots = new Map<string, Map<number, Slot>>();
  readonly #byNo = new Map<number, string>();
  nextNo = 1;
  /**
   * Counts claim commands and ends applied here since this table was made (not replicated, not
   * in snapshots): a node's MQTT gateway looks again only at the claims that changed.
   */
  changes = 0;
  /** The keys of the last `RECENT_MAX` changes, oldest first (observer data like `changes`). */
  readonly #recent: string[] = [];

  constructor(
    readonly ord: number,
    readonly schedule: (e: TimedEvent) => void,
  ) {}

  get size(): number {
    return this.byKey.size;
  }

  /** Counts a change of `key` (a take, a release, an end). */
  touch(key: string): void {
    this.changes++;
    this.#recent.push(key);
    if (this.#recent.length > RECENT_MAX * 2) {
      this.#recent.splice(0, this.#recent.length - RECENT_MAX);
    }
  }

  /** The keys changed since the count was `since`; undefined when too many to remember. */
  changedSince(since: number): string[] | undefined {
    const n = this.changes - since;
    if (n < 0 || n > this.#recent.length) return undefined;
    return this.#recent.slice(this.#recent.length - n);
  }

  /** A new claim (the caller dropped any old one). */
  create(key: string, holder: string): Claim {
    const c: Claim = {
      holder,
      subscriptions: [],
      expireMs: undefined,
      data: undefined,
      endAt: Infinity,
      no: this.nextNo++,
      stamp: 0,
      pubrels: new Set(),
    };
    this.byKey.set(key, c);
    this.#byNo.set(c.no, key);
    return c;
  }

  delete(key: string): void {
    const c = this.byKey.get(key);
    if (c === undefined) return;
    this.byKey.delete(key);
    this.#byNo.delete(c.no);
  }

  /** Released with an expiry: it ends at `endAt` unless taken again before. */
  scheduleEnd(c: Claim): void {
    if (c.endAt === Infinity) return;
    this.schedule({ at: c.endAt, ord: this.ord, seq: c.no, kind: EventKind.ClaimEnd, attempt: 0 });
  }

  /** The claim an end event names, if it is still due (not taken again, not gone). */
  due(e: TimedEvent): { key: string; claim: Claim } | undefined {
    const key = this.#byNo.get(e.seq);
    const claim = key === undefined ? undefined : this.byKey.get(key);
    if (key === undefined || claim === undefined) return undefined;
    if (claim.holder !== null || claim.endAt !== e.at) return undefined;
    return { key, claim };
  }

  rows(): ClaimRow[] {
    return [...this.byKey].map(([key, c]) => [
      key,
      c.holder,
      [...c.subscriptions],
      c.expireMs ?? null,
      c.data ?? null,
      c.endAt,
      c.no,
      c.stamp,
      [...c.pubrels],
    ]);
  }

  restore(rows: readonly ClaimRow[], nextNo: number, now: number): void {
    this.nextNo = nextNo;
    for (const r of rows) {
      const row = this.#fromOldRow(r, now);
      const [key, holder, subscriptions, expireMs, data, endAt, no, stamp, pubrels] = row;
      const c: Claim = {
        holder,
        subscriptions,
        expireMs: expireMs ?? undefined,
        data: data ?? undefined,
        endAt,
        no,
        stamp: stamp ?? 0,
        pubrels: new Set(pubrels ?? []),
      };
      this.byKey.set(key, c);
      this.#byNo.set(no, key);
      this.scheduleEnd(c);
    }
  }

  /**
   * A row of the first layout (slots inside it, at 7: `[slot, seq, id]` each, no fingerprint):
   * its slots go to the slot table, held for any message (as they were) for `SLOT_TTL_MS`.
   */
  #fromOldRow(row: ClaimRow, now: number): ClaimRow {
    const r = row as unknown[];
    if (!Array.isArray(r[7])) return row;
    for (const [slot, seq, id] of r[7] as [number, number, string][]) {
      this.hold(r[0] as string, slot, { seq, id, fp: ANY_MESSAGE, expiresAt: now + SLOT_TTL_MS });
    }
    return [...r.slice(0, 7), ...r.slice(8)] as ClaimRow;
  }

  /** The slot held for (key, slot) now, if any. */
  slot(key: string, slot: number, now: number): Slot | undefined {
    const held = this.slots.get(key)?.get(slot);
    return held === undefined || held.expiresAt <= now ? undefined : held;
  }

  hold(key: string, slot: number, s: Slot): void {
    let m = this.slots.get(key);
    if (m === undefined) this.slots.set(key, m = new Map());
    m.set(slot, s);
  }

  free(key: string, slot: number): boolean {
    const m = this.slots.get(key);
    const had = m?.delete(slot) === true;
    if (m !== undefined && m.size === 0) this.slots.delete(key);
    return had;
  }

  /** Drops the expired slots (at a tick: slow is fine). */
  pruneSlots(now: number): void {
    for (const [key, m] of this.slots) {
      for (const [slot, s] of m) if (s.expiresAt <= now) m.delete(slot);
      if (m.size === 0) this.slots.delete(key);
    }
  }

  slotRows(): SlotRow[] {
    return [...this.slots].map(([key, m]) => [
      key,
      [...m].map(([slot, s]) => [slot, s.seq, s.id, s.fp, s.expiresAt]),
    ]);
  }

  restoreSlots(rows: readonly SlotRow[]): void {
    for (const [key, list] of rows) {
      for (const [slot, seq, id, fp, expiresAt] of list) {
        this.hold(key, slot, { seq, id, fp, expiresAt });
      }
    }
  }
}
