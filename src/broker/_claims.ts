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
  /** Held slots (`MessageInput.once`): the message each was published as. */
  readonly slots: Map<number, { readonly seq: number; readonly id: string }>;
}

/** Changes whose keys `changedSince` remembers. */
const RECENT_MAX = 4096;

/** Most slots a claim holds (MQTT packet ids are 1..65535). */
export const SLOT_MAX = 65535;

/**
 * A snapshot row: [key, holder, subscriptions, expireMs | null, data | null, endAt, no, slots,
 * stamp, pubrels] (slots: [slot, seq, id] each).
 */
export type ClaimRow = [
  string,
  string | null,
  string[],
  number | null,
  string | null,
  number,
  number,
  [number, number, string][],
  number,
  number[],
];

export class ClaimTable {
  readonly byKey = new Map<string, Claim>();
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
      slots: new Map(),
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
      [...c.slots].map(([slot, m]) => [slot, m.seq, m.id]),
      c.stamp,
      [...c.pubrels],
    ]);
  }

  restore(rows: readonly ClaimRow[], nextNo: number): void {
    this.nextNo = nextNo;
    for (const row of rows) {
      const [key, holder, subscriptions, expireMs, data, endAt, no, slots, stamp, pubrels] = row;
      const c: Claim = {
        holder,
        subscriptions,
        expireMs: expireMs ?? undefined,
        data: data ?? undefined,
        endAt,
        no,
        stamp: stamp ?? 0,
        pubrels: new Set(pubrels ?? []),
        slots: new Map((slots ?? []).map(([slot, seq, id]) => [slot, { seq, id }])),
      };
      this.byKey.set(key, c);
      this.#byNo.set(no, key);
      this.scheduleEnd(c);
    }
  }
}
