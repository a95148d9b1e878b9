/**
 * Remembered message ids of one queue, subscription or topic (dedup and status), stored in
 * columns: typed arrays for the records' fields, the ids' code units in one arena (a byte each
 * while every id is Latin-1, as ids nearly always are; UTF-16 from the first that is not), and an
 * open-addressing hash index over them. A million ids cost a few typed arrays instead of a
 * million records, map entries and strings, so a snapshot restore fills them without making
 * garbage and the collector has nothing per id to trace. Expiry by entry time only
 * (docs/reliability.md item 6). Folder-private.
 *
 * Records are numbered in insertion order (`no`, never reused), and the table keeps them in that
 * order, so expiry pops from the front. A window that shrank leaves later records expiring before
 * the front: lookups check `expiresAt`, so those count as forgotten anyway. Seqs increase with
 * `no` (every caller adds the next seq of its channel), which lets `settledAt` search by seq.
 *
 * @module
 */

import { GONE, hashOf, type IdCapture, type IdColumns, isLatin1, moved } from "./_id_slots.ts";

/** Record states by code. Append-only: the code is in snapshots. */
export const ID_STATES = ["live", "acked", "dead"] as const;
export type IdState = typeof ID_STATES[number];
export { type IdCapture, type IdColumns, idOfSlot, isCurrentSlot } from "./_id_slots.ts";

/** A copy of one record's fields, as of the call that returned it. */
export interface IdRecord {
  /** The record's number: what `settle` and `isCurrent` take. */
  readonly no: number;
  readonly seq: number;
  readonly state: IdState;
  /** The attempt that settled it (acked) or the deliveries made (dead). */
  readonly attempt: number;
  readonly expiresAt: number;
}

/** One record as a snapshot holds it (insertion order). */
export interface IdRow {
  readonly id: string;
  readonly seq: number;
  readonly expiresAt: number;
  readonly state: number;
  readonly attempt: number;
}

/** Records copied per step of a capture. */
const CAPTURE_SLOTS = 1 << 14;

const MIN_CAPACITY = 16;
/** Positions of the old index moved per insert while the index grows (see `#grow`). */
const MIGRATE_STEP = 8;

export class IdTable {
  // Columns by slot; slot `i` holds record `#base + i`; slots below `#head` are gone.
  #seq = new Float64Array(MIN_CAPACITY);
  #expiresAt = new Float64Array(MIN_CAPACITY);
  #state = new Uint8Array(MIN_CAPACITY);
  #attempt = new Uint32Array(MIN_CAPACITY);
  #hash = new Uint32Array(MIN_CAPACITY);
  #idOff = new Uint32Array(MIN_CAPACITY);
  #idLen = new Uint32Array(MIN_CAPACITY);
  /** The ids' code units, slot after slot: bytes until an id has a code unit above 0xff. */
  #chars: Uint8Array | Uint16Array = new Uint8Array(MIN_CAPACITY * 8);
  #charsUsed = 0;
  #head = 0;
  #len = 0;
  #base = 0;
  /** Current (not deleted) records from `#head` on. */
  #size = 0;
  /** Open addressing, linear probing: slot + 1, 0 when empty. Twice the records at least. */
  #index = new Int32Array(MIN_CAPACITY * 2);
  /**
   * While the index grows: the one it replaces, read-only, whose entries move over a few
   * positions per insert (`#migrate`), so no insert rehashes every id at once (~20-50 ms at
   * 262,144-524,288 ids). Its entries below `#moved` are in `#index` too; the others count only
   * while their record is current (a deleted or expired one is not removed from it).
   */
  #old: Int32Array | undefined;
  #moved = 0;

  /** How many ids are remembered (some may have expired and not been dropped yet). */
  get size(): number {
    return this.#size;
  }

  /** The record for `id` at `now`, or undefined if never seen or expired. */
  lookup(id: string, now: number): IdRecord | undefined {
    const i = this.#find(id);
    return i < 0 || this.#expiresAt[i] <= now ? undefined : this.#record(i);
  }

  /** The settled (acked or dead) record of `seq` at `now`, if it is remembered. */
  settledAt(seq: number, now: number): IdRecord | undefined {
    const i = this.#slotOfSeq(seq);
    if (i < 0) return undefined;
    const s = this.#state[i];
    if (s === GONE || s === 0 || this.#expiresAt[i] <= now) return undefined;
    return this.#record(i);
  }

  /** Remembers `id` for `seq` until `expiresAt`, forgetting an earlier record of it. */
  add(id: string, seq: number, expiresAt: number): number {
    // An earlier record of the id is found and deleted while the new one is indexed.
    return this.#append(id, hashOf(id), seq, expiresAt, 0, 0);
  }

  /** Appends a snapshot's record in its place (restore appends in table order). */
  restore(row: IdRow): number {
    return this.restoreFields(row.id, row.seq, row.expiresAt, row.state, row.attempt);
  }

  /** `restore` field by field (a restore appends millions without an object each). */
  restoreFields(
    id: string,
    seq: number,
    expiresAt: number,
    state: number,
    attempt: number,
  ): number {
    if (ID_STATES[state] === undefined) {
      throw new Error(`Cannot restore id ${id}: unknown state ${state}`);
    }
    return this.#append(id, hashOf(id), seq, expiresAt, state, attempt);
  }

  /** The number of the current record of `id` (expired or not), or -1. */
  currentNo(id: string): number {
    const i = this.#find(id);
    return i < 0 ? -1 : this.#base + i;
  }

  /** Whether record `no` is current and holds `id`. */
  holds(no: number, id: string): boolean {
    return this.isCurrent(no) && this.#sameId(no - this.#base, id);
  }

  /** Makes room for `n` more records at once (a restore knows how many come). */
  reserve(n: number): void {
    const want = this.#len + n;
    if (want > this.#seq.length) {
      let cap = this.#seq.length;
      while (cap < want) cap *= 2;
      const head = this.#head, len = this.#len;
      this.#seq = moved(this.#seq, 0, len, cap, Float64Array);
      this.#expiresAt = moved(this.#expiresAt, 0, len, cap, Float64Array);
      this.#state = moved(this.#state, 0, len, cap, Uint8Array);
      this.#attempt = moved(this.#attempt, 0, len, cap, Uint32Array);
      this.#hash = moved(this.#hash, 0, len, cap, Uint32Array);
      this.#idOff = moved(this.#idOff, 0, len, cap, Uint32Array);
      this.#idLen = moved(this.#idLen, 0, len, cap, Uint32Array);
      this.#head = head;
    }
    if ((this.#size + n) * 2 > this.#index.length) this.#reindex((this.#size + n) * 2);
  }

  /** Whether record `no` is still the one remembered for its id. */
  isCurrent(no: number): boolean {
    const i = no - this.#base;
    return i >= this.#head && i < this.#len && this.#state[i] !== GONE;
  }

  /** Settles record `no`, if it is still the one remembered for its id. */
  settle(no: number, state: "acked" | "dead", attempt: number): void {
    if (!this.isCurrent(no)) return;
    const i = no - this.#base;
    this.#state[i] = state === "acked" ? 1 : 2;
    this.#attempt[i] = attempt;
  }

  /** Forgets records whose window ended, from the front. */
  expire(now: number): void {
    let h = this.#head;
    while (h < this.#len && (this.#state[h] === GONE || this.#expiresAt[h] <= now)) {
      if (this.#state[h] !== GONE) {
        this.#unindex(h);
        this.#size--;
      }
      h++;
    }
    if (h === this.#head) return;
    this.#head = h;
    if (this.#head === this.#len) {
      // Empty: start over at the front (record numbers go on).
      this.#base += this.#len;
      this.#head = this.#len = this.#charsUsed = 0;
      // Slot numbers start over: the old index's entries would name the new records.
      this.#old = undefined;
    }
  }

  /**
   * A copy of the records in insertion order (a snapshot's capture), in blocks of
   * `CAPTURE_SLOTS` records, one block per step: copying fresh memory costs ~5 ms a megabyte
   * here (the pages fault in), so one copy of a million records would hold the loop for ~100 ms.
   * Deleted records are in it (`isCurrentSlot`).
   */
  *capture(): Generator<void, IdCapture, void> {
    const blocks: IdColumns[] = [];
    for (let a = this.#head; a < this.#len; a += CAPTURE_SLOTS) {
      const b = Math.min(this.#len, a + CAPTURE_SLOTS);
      const charBase = this.#idOff[a];
      blocks.push({
        seq: this.#seq.slice(a, b),
        expiresAt: this.#expiresAt.slice(a, b),
        state: this.#state.slice(a, b),
        attempt: this.#attempt.slice(a, b),
        idOff: this.#idOff.slice(a, b),
        idLen: this.#idLen.slice(a, b),
        chars: this.#chars.slice(charBase, this.#idOff[b - 1] + this.#idLen[b - 1]),
        charBase,
      });
      yield;
    }
    return { count: this.#size, blocks };
  }

  /** The current records in insertion order (tests; a capture uses `capture`). */
  *rows(): IterableIterator<IdRow> {
    for (let i = this.#head; i < this.#len; i++) {
      if (this.#state[i] === GONE) continue;
      yield {
        id: this.#idAt(i),
        seq: this.#seq[i],
        expiresAt: this.#expiresAt[i],
        state: this.#state[i],
        attempt: this.#attempt[i],
      };
    }
  }

  #record(i: number): IdRecord {
    return {
      no: this.#base + i,
      seq: this.#seq[i],
      state: ID_STATES[this.#state[i]],
      attempt: this.#attempt[i],
      expiresAt: this.#expiresAt[i],
    };
  }

  #idAt(i: number): string {
    const off = this.#idOff[i];
    return String.fromCharCode(...this.#chars.subarray(off, off + this.#idLen[i]));
  }

  #sameId(i: number, id: string): boolean {
    if (this.#idLen[i] !== id.length) return false;
    const c = this.#chars, off = this.#idOff[i];
    for (let k = 0; k < id.length; k++) if (c[off + k] !== id.charCodeAt(k)) return false;
    return true;
  }

  /** The slot of the current record of `id`, or -1. */
  #find(id: string): number {
    const h = hashOf(id);
    const mask = this.#index.length - 1;
    for (let p = h & mask, n = 0; n <= mask; p = (p + 1) & mask, n++) {
      const v = this.#index[p];
      if (v === 0) break;
      const i = v - 1;
      if (this.#hash[i] === h && this.#sameId(i, id)) return i;
    }
    return this.#old === undefined ? -1 : this.#findOld(h, (i) => this.#sameId(i, id));
  }

  /** The slot of a current record in the old index with hash `h` that `same` accepts, or -1. */
  #findOld(h: number, same: (i: number) => boolean): number {
    const old = this.#old;
    if (old === undefined) return -1;
    const mask = old.length - 1;
    for (let p = h & mask, n = 0; n <= mask; p = (p + 1) & mask, n++) {
      const v = old[p];
      if (v === 0) return -1;
      const i = v - 1;
      if (this.#hash[i] === h && this.#isLiveSlot(i) && same(i)) return i;
    }
    return -1;
  }

  /** Whether slot `i` holds a current record (not deleted, not dropped from the front). */
  #isLiveSlot(i: number): boolean {
    return i >= this.#head && i < this.#len && this.#state[i] !== GONE;
  }

  /** The slot of the current record with `seq`, or -1 (seqs increase with slots). */
  #slotOfSeq(seq: number): number {
    let lo = this.#head, hi = this.#len - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.#seq[mid];
      if (s === seq) {
        // A deleted record may share its seq with none current, never with a current one.
        return this.#state[mid] === GONE ? -1 : mid;
      }
      if (s < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  #append(
    id: string,
    hash: number,
    seq: number,
    expiresAt: number,
    state: number,
    attempt: number,
  ): number {
    if (this.#len === this.#seq.length) this.#makeRoom();
    if (this.#charsUsed + id.length > this.#chars.length) this.#growChars(id.length);
    const i = this.#len++;
    this.#seq[i] = seq;
    this.#expiresAt[i] = expiresAt;
    this.#state[i] = state;
    this.#attempt[i] = attempt;
    this.#hash[i] = hash;
    this.#idOff[i] = this.#charsUsed;
    this.#idLen[i] = id.length;
    if (this.#chars instanceof Uint8Array && !isLatin1(id)) this.#widenChars();
    const chars = this.#chars;
    for (let k = 0; k < id.length; k++) chars[this.#charsUsed + k] = id.charCodeAt(k);
    this.#charsUsed += id.length;
    this.#size++;
    if (this.#size * 2 > this.#index.length) this.#grow();
    this.#insertIndex(i);
    this.#migrate(MIGRATE_STEP);
    return this.#base + i;
  }

  /**
   * Indexes slot `i`. A current record of the same id lies on the same probe path before the
   * first empty slot: it is deleted and slot `i` takes its place in the index (one probe for a
   * lookup and an insert).
   */
  #insertIndex(i: number): void {
    const index = this.#index, mask = index.length - 1, h = this.#hash[i];
    let p = h & mask;
    for (; index[p] !== 0; p = (p + 1) & mask) {
      const j = index[p] - 1;
      if (this.#hash[j] === h && this.#sameSlotId(j, i)) {
        this.#state[j] = GONE;
        this.#size--;
        index[p] = i + 1;
        return;
      }
    }
    // Not in the new index: a current record of the id may wait in the old one (it stays
    // there, deleted, and `#migrate` skips it).
    // (The test first: no closure is made on the hot path while the index is not growing.)
    const j = this.#old === undefined ? -1 : this.#findOld(h, (j) => this.#sameSlotId(j, i));
    if (j >= 0) {
      this.#state[j] = GONE;
      this.#size--;
    }
    index[p] = i + 1;
  }

  /** Starts growing the index: a new one twice the size, the current one moving over to it. */
  #grow(): void {
    // The old index moved at least 8 positions per insert since the last growth, which took
    // more inserts than it has positions: it is empty by now, unless a restore reserved.
    if (this.#old !== undefined) this.#migrate(this.#old.length);
    this.#old = this.#index;
    this.#moved = 0;
    this.#index = new Int32Array(this.#old.length * 2);
  }

  /** Moves up to `n` positions of the old index into the new one (current records only). */
  #migrate(n: number): void {
    const old = this.#old;
    if (old === undefined) return;
    const end = Math.min(old.length, this.#moved + n);
    const index = this.#index, mask = index.length - 1;
    for (let q = this.#moved; q < end; q++) {
      const v = old[q];
      if (v === 0 || !this.#isLiveSlot(v - 1)) continue;
      // No two current records share an id: the first empty position is the place.
      let p = this.#hash[v - 1] & mask;
      while (index[p] !== 0) p = (p + 1) & mask;
      index[p] = v;
    }
    this.#moved = end;
    if (end === old.length) this.#old = undefined;
  }

  #sameSlotId(a: number, b: number): boolean {
    const n = this.#idLen[a];
    if (this.#idLen[b] !== n) return false;
    const c = this.#chars, x = this.#idOff[a], y = this.#idOff[b];
    for (let k = 0; k < n; k++) if (c[x + k] !== c[y + k]) return false;
    return true;
  }

  /** Removes slot `i` from the index (backward-shift deletion: no tombstones). */
  #unindex(i: number): void {
    const index = this.#index, mask = index.length - 1;
    let p = this.#hash[i] & mask;
    while (index[p] !== i + 1) {
      if (index[p] === 0) {
        // Still waiting in the old index: it stays there, and `#migrate` skips it once the
        // front passed it (the caller drops it from the front).
        if (this.#old !== undefined) return;
        throw new Error(`IdTable: slot ${i} is not indexed`);
      }
      p = (p + 1) & mask;
    }
    index[p] = 0;
    for (let q = (p + 1) & mask; index[q] !== 0; q = (q + 1) & mask) {
      const home = this.#hash[index[q] - 1] & mask;
      // The entry at q may move to p unless its home lies cyclically in (p, q].
      const stays = p <= q ? home > p && home <= q : home > p || home <= q;
      if (stays) continue;
      index[p] = index[q];
      index[q] = 0;
      p = q;
    }
  }

  #reindex(size: number): void {
    let n = MIN_CAPACITY * 2;
    while (n < size) n *= 2;
    this.#index = new Int32Array(n);
    this.#old = undefined;
    for (let i = this.#head; i < this.#len; i++) {
      if (this.#state[i] !== GONE) this.#insertIndex(i);
    }
  }

  /**
   * Full columns: when the gone front is at least half of them, move the rest down (slots keep
   * their order and their record numbers: the base moves by what the front dropped), else grow.
   * Deleted records in the middle keep their slots until the front passes them: they are rare
   * (an id added again after its window, a message moved back by redrive).
   */
  #makeRoom(): void {
    const head = this.#head, len = this.#len, cap = this.#seq.length;
    const newCap = (len - head) * 2 <= cap ? cap : cap * 2;
    const firstChar = head < len ? this.#idOff[head] : this.#charsUsed;
    this.#seq = moved(this.#seq, head, len, newCap, Float64Array);
    this.#expiresAt = moved(this.#expiresAt, head, len, newCap, Float64Array);
    this.#state = moved(this.#state, head, len, newCap, Uint8Array);
    this.#attempt = moved(this.#attempt, head, len, newCap, Uint32Array);
    this.#hash = moved(this.#hash, head, len, newCap, Uint32Array);
    this.#idOff = moved(this.#idOff, head, len, newCap, Uint32Array);
    this.#idLen = moved(this.#idLen, head, len, newCap, Uint32Array);
    this.#len = len - head;
    this.#base += head;
    this.#head = 0;
    for (let i = 0; i < this.#len; i++) this.#idOff[i] -= firstChar;
    this.#chars.copyWithin(0, firstChar, this.#charsUsed);
    this.#charsUsed -= firstChar;
    // The index holds slot numbers: only a move down changes them. Columns that only grew keep
    // every slot, and the rehash of every id cost ~35 ms at 262,144 ids, in one apply.
    if (head > 0) this.#reindex(this.#index.length);
  }

  #growChars(need: number): void {
    const n = Math.max(this.#chars.length * 2, this.#charsUsed + need);
    const c = this.#chars instanceof Uint8Array ? new Uint8Array(n) : new Uint16Array(n);
    c.set(this.#chars.subarray(0, this.#charsUsed));
    this.#chars = c;
  }

  /** The first id with a code unit above 0xff: the arena takes two bytes a code unit from now. */
  #widenChars(): void {
    const c = new Uint16Array(this.#chars.length);
    c.set(this.#chars.subarray(0, this.#charsUsed));
    this.#chars = c;
  }
}
