/**
 * The stored messages of one queue or subscription, in columns: a typed array per numeric field
 * and two plain arrays (the body's slab, the id), slot after slot in seq order, and the rare
 * optional fields by seq in a map (an array slot each cost 8 MB of heap per million messages).
 * A million messages cost a few dozen arrays instead of a million objects, so restoring a
 * snapshot makes no garbage and the garbage collector has little to trace. The columns are cut
 * in fixed-size blocks (`_msg_blocks.ts`): growth never copies them, a drained front block is
 * dropped, and a snapshot's capture shares the blocks (copy-on-write) instead of copying them.
 * Folder-private.
 *
 * `get` hands out a `Msg` view of one slot; it keeps reading the message it was made for, even
 * once deleted. Slots move only in `append` (a front block dropped, a squeeze): a view made
 * before finds its message again by seq, and throws if it was deleted and dropped meanwhile.
 *
 * @module
 */

import {
  BLOCK_MASK as M,
  BLOCK_ROWS,
  BLOCK_SHIFT as S,
  extrasOf,
  MIN_CAPACITY,
  MsgBlock,
  type MsgColumns,
  type MsgExtras,
  REMOVED,
  roundUp,
  shareRows,
} from "./_msg_blocks.ts";

import { storedExtras } from "./_shared_headers.ts";

export { isLiveSlot, type MsgColumns, type MsgExtras, msgIdOf } from "./_msg_blocks.ts";

/** A stored message's state. Numbers, as the columns hold them. */
export const MsgState = { Ready: 0, Delayed: 1, Leased: 2 } as const;
export type MsgState = typeof MsgState[keyof typeof MsgState];

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

/** The blocks, shared by a store and its views (the store replaces blocks in here). */
class Cols {
  /** Slot `i` is row `i & M` of block `i >>> S`. */
  blocks: MsgBlock[] = [];
  /** The optional fields of the messages that have any, by seq, until their slot is dropped. */
  extras = new Map<number, MsgExtras>();
  /** Bumped whenever slots move: views made before look their slot up again. */
  moves = 0;
  /** Bumped whenever slots move or a block is replaced by a copy: views fetch theirs again. */
  epoch = 0;
  /** The slot of `seq` now, or -1 (set by the store). */
  slotOf: (seq: number) => number = () => -1;

  /**
   * The block of slot `i`, to write: a copy of it first if a capture shares that row (views
   * holding the block fetch it again).
   */
  writable(i: number): MsgBlock {
    const k = i >>> S;
    const b = this.blocks[k];
    if ((i & M) >= b.frozen) return b;
    this.epoch++;
    return this.blocks[k] = b.copy(b.cap, 0);
  }

  /** Slots moved. */
  moved(): void {
    this.moves++;
    this.epoch++;
  }
}

class MsgView implements Msg {
  readonly c: Cols;
  /** The slot as of `c.moves` = `#moves`; its block and row as of `c.epoch` = `#epoch`. */
  #i: number;
  #moves: number;
  #b: MsgBlock;
  #j: number;
  #epoch: number;
  readonly #seq: number;

  constructor(c: Cols, i: number) {
    this.c = c;
    this.#i = i;
    this.#moves = c.moves;
    this.#b = c.blocks[i >>> S];
    this.#j = i & M;
    this.#epoch = c.epoch;
    this.#seq = this.#b.seq[this.#j];
  }

  /** The slot, found again by seq if slots moved since this view was made. */
  get i(): number {
    if (this.#epoch !== this.c.epoch) this.#sync();
    return this.#i;
  }
  #sync(): void {
    const c = this.c;
    if (this.#moves !== c.moves) {
      const i = c.slotOf(this.#seq);
      if (i < 0) throw new Error(`MsgStore: the view of seq ${this.#seq} outlived its message`);
      this.#i = i;
      this.#j = i & M;
      this.#moves = c.moves;
    }
    this.#b = c.blocks[this.#i >>> S];
    this.#epoch = c.epoch;
  }
  /** The block of the slot, to read. */
  #r(): MsgBlock {
    if (this.#epoch !== this.c.epoch) this.#sync();
    return this.#b;
  }
  /** The block of the slot, to write (copied first if a capture shares the row). */
  #w(): MsgBlock {
    const b = this.#r();
    if (this.#j < b.frozen) {
      this.c.writable(this.#i);
      this.#sync();
    }
    return this.#b;
  }
  get seq(): number {
    return this.#seq;
  }
  get id(): string {
    return this.#r().idAt(this.#j);
  }
  get rec(): number | undefined {
    const r = this.#r().rec[this.#j];
    return r < 0 ? undefined : r;
  }
  get buf(): Uint8Array {
    return this.#r().bufs[this.#j];
  }
  get off(): number {
    return this.#r().off[this.#j];
  }
  get len(): number {
    return this.#r().len[this.#j];
  }
  /** Through the slot, like every field: a view that outlived its message throws. */
  #extras(): MsgExtras | undefined {
    return this.c.extras.get(this.#r().seq[this.#j]);
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
    return this.#r().publishedAt[this.#j];
  }
  get expiresAt(): number {
    return this.#r().expiresAt[this.#j];
  }
  get state(): MsgState {
    return (this.#r().state[this.#j] & ~REMOVED) as MsgState;
  }
  set state(s: MsgState) {
    const b = this.#w();
    b.state[this.#j] = (b.state[this.#j] & REMOVED) | s;
  }
  get attempt(): number {
    return this.#r().attempt[this.#j];
  }
  set attempt(a: number) {
    this.#w().attempt[this.#j] = a;
  }
  get at(): number {
    return this.#r().at[this.#j];
  }
  set at(t: number) {
    this.#w().at[this.#j] = t;
  }
}

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
    return i < 0 || this.#removed(i) ? undefined : new MsgView(this.#c, i);
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
      storedExtras(m),
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
    if (this.#len > 0 && seq <= this.#lastSeq()) {
      throw new Error(`MsgStore: seq ${seq} appended after seq ${this.#lastSeq()}`);
    }
    // Only with deleted slots to drop: on an empty store, clearing undid a `reserve` (a restore
    // then grew its columns from 16 slots up).
    if (this.#count === 0 && this.#len > 0) this.#clear();
    else if (this.#head >= BLOCK_ROWS) this.#dropFront();
    if (this.#len === this.capacity) this.#makeRoom();
    const i = this.#len++;
    // Rows past a block's frozen ones are not shared: an append never copies a block.
    const b = this.#c.blocks[i >>> S], j = i & M;
    b.seq[j] = seq;
    b.state[j] = state;
    b.attempt[j] = attempt;
    b.at[j] = at;
    b.publishedAt[j] = publishedAt;
    b.expiresAt[j] = expiresAt;
    b.off[j] = off;
    b.len[j] = len;
    b.rec[j] = rec;
    b.pushId(j, id);
    b.bufs.push(buf);
    if (extras !== undefined) this.#c.extras.set(seq, extras);
    this.#count++;
  }

  /** How many messages' optional fields are held (deleted ones until their slot goes). */
  get extrasHeld(): number {
    return this.#c.extras.size;
  }

  /** How many slots the blocks hold now. */
  get capacity(): number {
    const bs = this.#c.blocks;
    return bs.length === 0 ? 0 : (bs.length - 1) * BLOCK_ROWS + bs[bs.length - 1].cap;
  }

  /** How many blocks hold the columns (only a store's only block is smaller than a whole one). */
  get blockCount(): number {
    return this.#c.blocks.length;
  }

  /** Makes room for `n` more messages at once (a restore knows how many come). */
  reserve(n: number): void {
    const want = this.#len + n;
    if (want <= this.capacity) return;
    const bs = this.#c.blocks;
    this.#c.epoch++; // the first block may be replaced by a larger copy
    if (want <= BLOCK_ROWS) {
      let cap = MIN_CAPACITY;
      while (cap < want) cap *= 2;
      bs[0] = bs.length === 0 ? new MsgBlock(cap) : bs[0].copy(cap, 0);
      return;
    }
    if (bs.length === 1 && bs[0].cap < BLOCK_ROWS) bs[0] = bs[0].copy(BLOCK_ROWS, 0);
    while (this.capacity < want) bs.push(new MsgBlock(BLOCK_ROWS));
  }

  delete(seq: number): void {
    const i = this.#slotOf(seq);
    if (i < 0 || this.#removed(i)) return;
    this.#c.writable(i).state[i & M] |= REMOVED;
    this.#count--;
    while (this.#head < this.#len && this.#removed(this.#head)) this.#head++;
  }

  /** Live messages in seq order. */
  *values(): IterableIterator<Msg> {
    yield* this.valuesFrom(0);
  }

  /** Live messages with a seq of at least `seq`, in seq order. */
  *valuesFrom(seq: number): IterableIterator<Msg> {
    for (let i = this.#lowerBound(seq); i < this.#len; i++) {
      if (!this.#removed(i)) yield new MsgView(this.#c, i);
    }
  }

  /** Calls `fn` for each live message in seq order. */
  forEach(fn: (m: Msg) => void): void {
    for (let i = this.#head; i < this.#len; i++) {
      if (!this.#removed(i)) fn(new MsgView(this.#c, i));
    }
  }

  /** The lowest stored message, if any. */
  first(): Msg | undefined {
    return this.#count === 0 ? undefined : new MsgView(this.#c, this.#head);
  }

  /**
   * Shares the live span with a snapshot's capture, one `MsgColumns` per block (deleted slots
   * included): no column is copied, the store copies a block before it next writes a shared
   * row. Steps yield between blocks only to gather the optional fields, when there are any.
   */
  *capture(): Generator<void, MsgColumns[], void> {
    const c = this.#c;
    const out: MsgColumns[] = [];
    for (let a = this.#head; a < this.#len;) {
      const start = a & ~M, blk = c.blocks[a >>> S];
      const b = Math.min(this.#len, start + blk.cap);
      const extras = c.extras.size === 0
        ? undefined
        : extrasOf(c.extras, blk, a - start, b - start);
      out.push(shareRows(blk, a - start, b - start, extras));
      if (extras !== undefined) yield;
      a = b;
    }
    return out;
  }

  /** How many slots the live span takes (deleted ones inside it included). */
  get spanSlots(): number {
    return this.#len - this.#head;
  }

  #removed(i: number): boolean {
    return (this.#c.blocks[i >>> S].state[i & M] & REMOVED) !== 0;
  }

  #seqAt(i: number): number {
    return this.#c.blocks[i >>> S].seq[i & M];
  }

  #lastSeq(): number {
    return this.#seqAt(this.#len - 1);
  }

  /** The slot holding `seq` (live or deleted), or -1. */
  #slotOf(seq: number): number {
    if (this.#head >= this.#len) return -1;
    // Dense (a queue stores every seq): the slot is the seq's distance from the front.
    const guess = this.#head + (seq - this.#seqAt(this.#head));
    if (guess >= this.#head && guess < this.#len && this.#seqAt(guess) === seq) return guess;
    const i = this.#lowerBound(seq);
    return i < this.#len && this.#seqAt(i) === seq ? i : -1;
  }

  /** The first slot from the front whose seq is at least `seq`. */
  #lowerBound(seq: number): number {
    let lo = this.#head, hi = this.#len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#seqAt(mid) < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Nothing live: start over at slot 0, dropping what deleted slots still referred to. */
  #clear(): void {
    const c = this.#c, b = c.blocks[0];
    c.moved();
    this.#head = this.#len = 0;
    c.extras.clear();
    // A small block is kept (a queue its consumers keep empty would make one per message).
    if (c.blocks.length === 1 && b.cap <= 4 * MIN_CAPACITY && b.frozen === 0) {
      b.bufs.length = b.charsUsed = 0;
    } else c.blocks = [];
  }

  /**
   * Full blocks: squeeze out deleted slots when live messages fill under a quarter of the span;
   * an only block moves the span to its front when it is at most half of it (shrinking to twice
   * the span) or doubles up to a whole block; else a new block.
   */
  #makeRoom(): void {
    const bs = this.#c.blocks;
    const span = this.#len - this.#head;
    if (span >= SQUEEZE_MIN_SLOTS && this.#count * 4 < span) this.#squeeze();
    else if (bs.length === 0) bs.push(new MsgBlock(MIN_CAPACITY));
    else if (bs.length === 1 && (span * 2 <= bs[0].cap || bs[0].cap < BLOCK_ROWS)) {
      this.#moveDown(span * 2 <= bs[0].cap ? roundUp(span * 2) : bs[0].cap * 2);
    }
    // (The blocks read again: a squeeze or a move may have replaced the list.)
    const now = this.#c.blocks, last = now[now.length - 1];
    if (this.#len !== this.capacity) return;
    now.push(last === undefined ? new MsgBlock(BLOCK_ROWS) : last.next(BLOCK_ROWS));
  }

  /** The only block's span to the front of a new block of `cap` rows. */
  #moveDown(cap: number): void {
    const c = this.#c, b = c.blocks[0];
    this.#dropExtras(b, 0, this.#head);
    // In place when the block keeps its size and no capture shares it (the steady state of a
    // queue whose messages come and go); else a copy (a capture keeps reading the old block).
    if (cap === b.cap && b.frozen === 0 && b.holders === 0) b.shiftDown(this.#head);
    else c.blocks[0] = b.copy(cap, this.#head);
    c.moved();
    this.#len -= this.#head;
    this.#head = 0;
  }

  /** The live slots, in order, into new blocks from slot 0. */
  #squeeze(): void {
    const c = this.#c, old = c.blocks, fresh: MsgBlock[] = [];
    this.#dropExtras(old[0], 0, this.#head);
    const firstCap = this.#count < BLOCK_ROWS ? roundUp(this.#count * 2) : BLOCK_ROWS;
    let dst: MsgBlock | undefined;
    for (let i = this.#head; i < this.#len; i++) {
      const b = old[i >>> S], j = i & M;
      if ((b.state[j] & REMOVED) !== 0) {
        if (c.extras.size > 0) c.extras.delete(b.seq[j]);
        continue;
      }
      if (dst === undefined || dst.rows === dst.cap) {
        dst = new MsgBlock(fresh.length === 0 ? firstCap : BLOCK_ROWS);
        fresh.push(dst);
      }
      dst.copyRow(b, j, dst.rows);
    }
    c.blocks = fresh;
    c.moved();
    this.#head = 0;
    this.#len = this.#count;
  }

  /** Drops the blocks wholly in front of the live span (every slot in them is deleted). */
  #dropFront(): void {
    const c = this.#c, k = this.#head >>> S;
    for (const b of c.blocks.splice(0, k)) this.#dropExtras(b, 0, b.rows);
    c.moved();
    this.#head -= k * BLOCK_ROWS;
    this.#len -= k * BLOCK_ROWS;
  }

  /** Forgets the optional fields of the deleted rows [a, b) of `blk`, which are about to go. */
  #dropExtras(blk: MsgBlock, a: number, b: number): void {
    const c = this.#c;
    if (c.extras.size === 0) return;
    for (let j = a; j < b; j++) if ((blk.state[j] & REMOVED) !== 0) c.extras.delete(blk.seq[j]);
  }
}
