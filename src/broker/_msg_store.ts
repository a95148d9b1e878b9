/**
 * The stored messages of one queue or subscription, in columns: a typed array per numeric field
 * and two plain arrays (the body's slab, the id), slot after slot in seq order, and the rare
 * optional fields by seq in a map (an array slot each cost 8 MB of heap per million messages). A million messages cost a dozen arrays instead of a million objects, so restoring a
 * snapshot makes no garbage, capturing one copies columns instead of walking objects, and the
 * garbage collector has little to trace. Folder-private.
 *
 * `get` hands out a `Msg` view of one slot; it keeps reading the message it was made for, even
 * once deleted. Slots move only in `append` (growth, squeeze): a view made before finds its
 * message again by seq, and throws if it was deleted and squeezed out meanwhile.
 *
 * @module
 */

/** A stored message's state. Numbers, as the columns hold them. */
export const MsgState = { Ready: 0, Delayed: 1, Leased: 2 } as const;
export type MsgState = typeof MsgState[keyof typeof MsgState];
/**
 * The flag of a deleted slot in the state column, skipped until the front passes it or a
 * squeeze drops it. A flag, not a state: a view of a deleted message still reads its state.
 */
const REMOVED = 0x80;

/** The optional fields, present on few messages. */
export interface MsgExtras {
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly group: string | undefined;
  readonly subject: string | undefined;
}

/** One message to store. */
export interface NewMsg extends MsgExtras {
  readonly seq: number;
  readonly id: string;
  /** The dedup record of a publisher-given id (`IdTable` number), if any. */
  readonly rec: number | undefined;
  /** The slab holding the body at `off`, `len` bytes (shared with a topic for subscriptions). */
  readonly buf: Uint8Array;
  readonly off: number;
  readonly len: number;
  readonly publishedAt: number;
  /** Entry time when the TTL ends; Infinity when none. */
  readonly expiresAt: number;
  readonly state: MsgState;
  /** Deliveries so far. */
  readonly attempt: number;
  /** Delayed: when it becomes ready. Leased: when the lease ends. */
  readonly at: number;
}

/** A stored message (a view of its slot): the mutable fields write through. */
export interface Msg extends NewMsg {
  state: MsgState;
  attempt: number;
  at: number;
}

/** The columns, shared by a store and its views (growth replaces the arrays in here). */
class Cols {
  seq = new Float64Array(0);
  state = new Uint8Array(0);
  attempt = new Uint32Array(0);
  at = new Float64Array(0);
  publishedAt = new Float64Array(0);
  expiresAt = new Float64Array(0);
  off = new Uint32Array(0);
  len = new Uint32Array(0);
  /** The dedup record number, -1 when none. */
  rec = new Float64Array(0);
  bufs: Uint8Array[] = [];
  ids: string[] = [];
  /** The optional fields of the messages that have any, by seq, until their slot is dropped. */
  extras = new Map<number, MsgExtras>();
  /** Bumped whenever slots move: views made before look their slot up again. */
  moves = 0;
  /** The slot of `seq` now, or -1 (set by the store). */
  slotOf: (seq: number) => number = () => -1;
}

class MsgView implements Msg {
  readonly c: Cols;
  #i: number;
  #moves: number;
  readonly #seq: number;

  constructor(c: Cols, i: number) {
    this.c = c;
    this.#i = i;
    this.#moves = c.moves;
    this.#seq = c.seq[i];
  }

  /** The slot, found again by seq if slots moved since this view was made. */
  get i(): number {
    if (this.#moves !== this.c.moves) {
      const i = this.c.slotOf(this.#seq);
      if (i < 0) throw new Error(`MsgStore: the view of seq ${this.#seq} outlived its message`);
      this.#i = i;
      this.#moves = this.c.moves;
    }
    return this.#i;
  }
  get seq(): number {
    return this.#seq;
  }
  get id(): string {
    return this.c.ids[this.i];
  }
  get rec(): number | undefined {
    const r = this.c.rec[this.i];
    return r < 0 ? undefined : r;
  }
  get buf(): Uint8Array {
    return this.c.bufs[this.i];
  }
  get off(): number {
    return this.c.off[this.i];
  }
  get len(): number {
    return this.c.len[this.i];
  }
  /** Through the slot, like every field: a view that outlived its message throws. */
  #extras(): MsgExtras | undefined {
    return this.c.extras.get(this.c.seq[this.i]);
  }
  get headers(): Readonly<Record<string, string>> | undefined {
    return this.#extras()?.headers;
  }
  get group(): string | undefined {
    return this.#extras()?.group;
  }
  get subject(): string | undefined {
    return this.#extras()?.subject;
  }
  get publishedAt(): number {
    return this.c.publishedAt[this.i];
  }
  get expiresAt(): number {
    return this.c.expiresAt[this.i];
  }
  get state(): MsgState {
    return (this.c.state[this.i] & ~REMOVED) as MsgState;
  }
  set state(s: MsgState) {
    this.c.state[this.i] = (this.c.state[this.i] & REMOVED) | s;
  }
  get attempt(): number {
    return this.c.attempt[this.i];
  }
  set attempt(a: number) {
    this.c.attempt[this.i] = a;
  }
  get at(): number {
    return this.c.at[this.i];
  }
  set at(t: number) {
    this.c.at[this.i] = t;
  }
}

/** A copy of a store's live span (a snapshot's capture), deleted slots included (`isLiveSlot`). */
export interface MsgColumns {
  readonly count: number;
  readonly seq: Float64Array;
  readonly state: Uint8Array;
  readonly attempt: Uint32Array;
  readonly at: Float64Array;
  readonly publishedAt: Float64Array;
  readonly expiresAt: Float64Array;
  readonly off: Uint32Array;
  readonly len: Uint32Array;
  readonly rec: Float64Array;
  readonly bufs: readonly Uint8Array[];
  readonly ids: readonly string[];
  readonly extras: readonly (MsgExtras | undefined)[];
}

const MIN_CAPACITY = 16;
/** A store whose live messages fill less than a quarter of this many slots or more squeezes. */
const SQUEEZE_MIN_SLOTS = 4096;

export class MsgStore {
  readonly #c = new Cols();
  #head = 0;
  #len = 0;
  #count = 0;

  constructor() {
    this.#c.slotOf = (seq) => this.#slotOf(seq);
  }

  get count(): number {
    return this.#count;
  }

  /** The message of `seq`, if stored. */
  get(seq: number): Msg | undefined {
    const i = this.#slotOf(seq);
    return i < 0 || (this.#c.state[i] & REMOVED) !== 0 ? undefined : new MsgView(this.#c, i);
  }

  /** Stores a message with a seq above every seq stored so far. */
  append(m: NewMsg): void {
    this.appendFields(
      m.seq,
      m.id,
      m.rec ?? -1,
      m.buf,
      m.off,
      m.len,
      m.headers === undefined && m.group === undefined && m.subject === undefined
        ? undefined
        : { headers: m.headers, group: m.group, subject: m.subject },
      m.publishedAt,
      m.expiresAt,
      m.state,
      m.attempt,
      m.at,
    );
  }

  /** `append` field by field (a restore stores millions without an object each); rec -1: none. */
  appendFields(
    seq: number,
    id: string,
    rec: number,
    buf: Uint8Array,
    off: number,
    len: number,
    extras: MsgExtras | undefined,
    publishedAt: number,
    expiresAt: number,
    state: MsgState,
    attempt: number,
    at: number,
  ): void {
    const c = this.#c;
    if (this.#len > 0 && seq <= this.#lastSeq()) {
      throw new Error(`MsgStore: seq ${seq} appended after seq ${this.#lastSeq()}`);
    }
    // Only with deleted slots to drop: on an empty store, clearing undid a `reserve` (a restore
    // then grew its columns from 16 slots up, copying them ~17 times for a million messages).
    if (this.#count === 0 && this.#len > 0) this.#clear();
    else if (this.#len === c.seq.length) this.#makeRoom();
    if (this.#len === c.seq.length) this.#resize(Math.max(MIN_CAPACITY, c.seq.length * 2));
    const i = this.#len++;
    c.seq[i] = seq;
    c.state[i] = state;
    c.attempt[i] = attempt;
    c.at[i] = at;
    c.publishedAt[i] = publishedAt;
    c.expiresAt[i] = expiresAt;
    c.off[i] = off;
    c.len[i] = len;
    c.rec[i] = rec;
    c.bufs.push(buf);
    c.ids.push(id);
    if (extras !== undefined) c.extras.set(seq, extras);
    this.#count++;
  }

  /** How many messages' optional fields are held (deleted ones until their slot goes). */
  get extrasHeld(): number {
    return this.#c.extras.size;
  }

  /** How many slots the columns hold now. */
  get capacity(): number {
    return this.#c.seq.length;
  }

  /** Makes room for `n` more messages at once (a restore knows how many come). */
  reserve(n: number): void {
    const want = this.#len + n;
    let cap = Math.max(MIN_CAPACITY, this.#c.seq.length);
    while (cap < want) cap *= 2;
    if (cap > this.#c.seq.length) this.#resize(cap);
  }

  delete(seq: number): void {
    const i = this.#slotOf(seq);
    const c = this.#c;
    if (i < 0 || (c.state[i] & REMOVED) !== 0) return;
    c.state[i] |= REMOVED;
    this.#count--;
    while (this.#head < this.#len && (c.state[this.#head] & REMOVED) !== 0) this.#head++;
  }

  /** Live messages in seq order. */
  *values(): IterableIterator<Msg> {
    yield* this.valuesFrom(0);
  }

  /** Live messages with a seq of at least `seq`, in seq order. */
  *valuesFrom(seq: number): IterableIterator<Msg> {
    const c = this.#c;
    for (let i = this.#lowerBound(seq); i < this.#len; i++) {
      if ((c.state[i] & REMOVED) === 0) yield new MsgView(c, i);
    }
  }

  /** Calls `fn` for each live message in seq order. */
  forEach(fn: (m: Msg) => void): void {
    const c = this.#c;
    for (let i = this.#head; i < this.#len; i++) {
      if ((c.state[i] & REMOVED) === 0) fn(new MsgView(c, i));
    }
  }

  /** The lowest stored message, if any. */
  first(): Msg | undefined {
    return this.#count === 0 ? undefined : new MsgView(this.#c, this.#head);
  }

  /**
   * Copies up to `max` slots of the live span starting `from` slots after its front (a capture
   * in steps: call with from = 0, max, 2·max… until it returns fewer than `max` slots).
   */
  copySlots(from: number, max: number): MsgColumns {
    const c = this.#c;
    const a = this.#head + from;
    const b = Math.min(this.#len, a + max);
    let count = 0;
    for (let i = a; i < b; i++) if ((c.state[i] & REMOVED) === 0) count++;
    return {
      count,
      seq: c.seq.slice(a, b),
      state: c.state.slice(a, b),
      attempt: c.attempt.slice(a, b),
      at: c.at.slice(a, b),
      publishedAt: c.publishedAt.slice(a, b),
      expiresAt: c.expiresAt.slice(a, b),
      off: c.off.slice(a, b),
      len: c.len.slice(a, b),
      rec: c.rec.slice(a, b),
      bufs: c.bufs.slice(a, b),
      ids: c.ids.slice(a, b),
      extras: this.#extrasOf(a, b),
    };
  }

  /** How many slots the live span takes (deleted ones inside it included). */
  get spanSlots(): number {
    return this.#len - this.#head;
  }

  #lastSeq(): number {
    return this.#c.seq[this.#len - 1];
  }

  /** The slot holding `seq` (live or deleted), or -1. */
  #slotOf(seq: number): number {
    const c = this.#c;
    if (this.#head >= this.#len) return -1;
    // Dense (a queue stores every seq): the slot is the seq's distance from the front.
    const guess = this.#head + (seq - c.seq[this.#head]);
    if (guess >= this.#head && guess < this.#len && c.seq[guess] === seq) return guess;
    const i = this.#lowerBound(seq);
    return i < this.#len && c.seq[i] === seq ? i : -1;
  }

  /** The first slot from the front whose seq is at least `seq`. */
  #lowerBound(seq: number): number {
    const s = this.#c.seq;
    let lo = this.#head, hi = this.#len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid] < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Nothing live: start over at slot 0, dropping what deleted slots still referred to. */
  #clear(): void {
    const c = this.#c;
    c.moves++;
    this.#head = this.#len = 0;
    c.bufs.length = c.ids.length = 0;
    c.extras.clear();
    if (c.seq.length > 4 * MIN_CAPACITY) this.#resize(MIN_CAPACITY);
  }

  /**
   * Full columns: squeeze out deleted slots when live messages fill under a quarter of them, or
   * move the span down when the deleted front is at least half; `append` grows them otherwise.
   */
  #makeRoom(): void {
    const c = this.#c;
    const span = this.#len - this.#head;
    if (span >= SQUEEZE_MIN_SLOTS && this.#count * 4 < span) {
      this.#dropExtras(0, this.#len);
      let to = 0;
      for (let i = this.#head; i < this.#len; i++) {
        if ((c.state[i] & REMOVED) === 0) this.#move(i, to++);
      }
      this.#truncate(to);
    } else if (span * 2 <= c.seq.length) {
      this.#dropExtras(0, this.#head);
      for (let i = this.#head; i < this.#len; i++) this.#move(i, i - this.#head);
      this.#truncate(span);
    }
  }

  /** Forgets the optional fields of the deleted slots in `[a, b)`, which are about to go. */
  #dropExtras(a: number, b: number): void {
    const c = this.#c;
    if (c.extras.size === 0) return;
    for (let i = a; i < b; i++) if ((c.state[i] & REMOVED) !== 0) c.extras.delete(c.seq[i]);
  }

  /** The optional fields of slots `[a, b)`, by slot (a capture's column). */
  #extrasOf(a: number, b: number): (MsgExtras | undefined)[] {
    const c = this.#c;
    const out: (MsgExtras | undefined)[] = new Array(b - a).fill(undefined);
    if (c.extras.size === 0) return out;
    for (let i = a; i < b; i++) out[i - a] = c.extras.get(c.seq[i]);
    return out;
  }

  #move(from: number, to: number): void {
    if (from === to) return;
    const c = this.#c;
    c.seq[to] = c.seq[from];
    c.state[to] = c.state[from];
    c.attempt[to] = c.attempt[from];
    c.at[to] = c.at[from];
    c.publishedAt[to] = c.publishedAt[from];
    c.expiresAt[to] = c.expiresAt[from];
    c.off[to] = c.off[from];
    c.len[to] = c.len[from];
    c.rec[to] = c.rec[from];
    c.bufs[to] = c.bufs[from];
    c.ids[to] = c.ids[from];
  }

  #truncate(n: number): void {
    const c = this.#c;
    c.moves++;
    this.#head = 0;
    this.#len = n;
    c.bufs.length = c.ids.length = n;
  }

  #resize(cap: number): void {
    const c = this.#c, n = this.#len;
    c.seq = resized(c.seq, n, new Float64Array(cap));
    c.state = resized(c.state, n, new Uint8Array(cap));
    c.attempt = resized(c.attempt, n, new Uint32Array(cap));
    c.at = resized(c.at, n, new Float64Array(cap));
    c.publishedAt = resized(c.publishedAt, n, new Float64Array(cap));
    c.expiresAt = resized(c.expiresAt, n, new Float64Array(cap));
    c.off = resized(c.off, n, new Uint32Array(cap));
    c.len = resized(c.len, n, new Uint32Array(cap));
    c.rec = resized(c.rec, n, new Float64Array(cap));
  }
}

function resized<T extends Float64Array | Uint8Array | Uint32Array>(a: T, n: number, b: T): T {
  b.set(a.subarray(0, n));
  return b;
}

/** Whether slot `i` of a capture holds a message (not a deleted slot). */
export function isLiveSlot(c: MsgColumns, i: number): boolean {
  return (c.state[i] & REMOVED) === 0;
}
