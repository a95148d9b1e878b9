/**
 * The fixed-size blocks that hold a `MsgStore`'s columns, and what a snapshot's capture of them
 * looks like. Folder-private.
 *
 * A store's slots live in blocks of `BLOCK_ROWS` rows, allocated as the store grows and dropped
 * once every slot in them is deleted: growth never copies the columns, and never holds them
 * twice (doubling arrays did both, ~74 ms in one apply at 524,288 messages, and both arrays at
 * once). Only a store's only block may be smaller (a small queue does not pay for a whole
 * block); it doubles up to `BLOCK_ROWS`, copying at most half a block.
 *
 * A capture shares the blocks instead of copying them: it freezes the rows it covers, and the
 * store copies a block once before writing one of its frozen rows (copy-on-write). Appends below
 * a block's end write rows past the frozen ones and copy nothing.
 *
 * @module
 */

import { charRoom, IdArena, idOfUnits } from "./_id_arena.ts";

/** Rows per block: 16,384 rows of ~61 bytes of columns and their ids (a copy takes ~1 ms). */
export const BLOCK_SHIFT = 14;
export const BLOCK_ROWS = 1 << BLOCK_SHIFT;
/** The smallest block a store starts with (a queue's first few messages). */
export const MIN_CAPACITY = 16;

/** The power of two at least `n`, and at least the smallest block, at most a whole one. */
export function roundUp(n: number): number {
  let cap = MIN_CAPACITY;
  while (cap < n) cap *= 2;
  return Math.min(cap, BLOCK_ROWS);
}
export const BLOCK_MASK = BLOCK_ROWS - 1;
/** Code units of id room per row a new block starts with (it doubles as needed). */
const CHARS_PER_ROW = 16;

/**
 * The flag of a deleted slot in the state column, skipped until the front passes it or a
 * squeeze drops it. A flag, not a state: a view of a deleted message still reads its state.
 */
export const REMOVED = 0x80;

/** The optional fields, present on few messages. */
export interface MsgExtras {
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly group: string | undefined;
  readonly subject: string | undefined;
}

/** One block of columns: row `j` of each array is one slot. */
export class MsgBlock extends IdArena {
  seq: Float64Array;
  state: Uint8Array;
  attempt: Uint32Array;
  at: Float64Array;
  publishedAt: Float64Array;
  expiresAt: Float64Array;
  off: Uint32Array;
  len: Uint32Array;
  /** The dedup record number, -1 when none. */
  rec: Float64Array;
  /** Pushed row by row: its length is the block's rows in use. */
  bufs: Uint8Array[] = [];
  /** Rows [0, frozen) are shared with a capture: the store copies the block before writing one. */
  frozen = 0;
  /** How many captures share this block (it thaws when the last one lets go). */
  holders = 0;

  constructor(cap: number, charCap = cap * CHARS_PER_ROW, wide = false) {
    super(cap, charCap, wide);
    this.seq = new Float64Array(cap);
    this.state = new Uint8Array(cap);
    this.attempt = new Uint32Array(cap);
    this.at = new Float64Array(cap);
    this.publishedAt = new Float64Array(cap);
    this.expiresAt = new Float64Array(cap);
    this.off = new Uint32Array(cap);
    this.len = new Uint32Array(cap);
    this.rec = new Float64Array(cap);
  }

  get cap(): number {
    return this.seq.length;
  }

  /** Rows in use. */
  get rows(): number {
    return this.bufs.length;
  }

  /** An empty block of `cap` rows to follow this one, its ids' room sized by this one's. */
  next(cap: number): MsgBlock {
    return new MsgBlock(cap, charRoom(this, cap, CHARS_PER_ROW));
  }

  /** A new block of `cap` rows holding rows [from, rows) of this one from row 0 (not frozen). */
  copy(cap: number, from: number): MsgBlock {
    const to = this.rows;
    const room = cap === this.cap ? this.chars.length : cap * CHARS_PER_ROW;
    const b = new MsgBlock(cap, Math.max(this.charsOf(from, to), room), this.wide);
    b.seq.set(this.seq.subarray(from, to));
    b.state.set(this.state.subarray(from, to));
    b.attempt.set(this.attempt.subarray(from, to));
    b.at.set(this.at.subarray(from, to));
    b.publishedAt.set(this.publishedAt.subarray(from, to));
    b.expiresAt.set(this.expiresAt.subarray(from, to));
    b.off.set(this.off.subarray(from, to));
    b.len.set(this.len.subarray(from, to));
    b.rec.set(this.rec.subarray(from, to));
    b.bufs = this.bufs.slice(from, to);
    this.copyIdsTo(b, from, to);
    return b;
  }

  /**
   * Moves rows [from, rows) to row 0 in place: what `copy(this.cap, from)` holds, without a new
   * block (a small queue's store moves its span down every few appends, and making its thirteen
   * arrays each time was ~10% of a restart's replay). Only a block no capture shares (`frozen`
   * 0); rows past the new `rows` keep stale values, which an append overwrites.
   */
  shiftDown(from: number): void {
    if (this.frozen !== 0) throw new Error("MsgBlock: shiftDown of a block a capture shares");
    const to = this.rows;
    this.seq.copyWithin(0, from, to);
    this.state.copyWithin(0, from, to);
    this.attempt.copyWithin(0, from, to);
    this.at.copyWithin(0, from, to);
    this.publishedAt.copyWithin(0, from, to);
    this.expiresAt.copyWithin(0, from, to);
    this.off.copyWithin(0, from, to);
    this.len.copyWithin(0, from, to);
    this.rec.copyWithin(0, from, to);
    this.bufs.copyWithin(0, from, to);
    this.bufs.length = to - from;
    this.shiftIdsDown(from, to);
  }

  /** Copies row `from` of block `src` to row `to` of this one, the next row (`rows`). */
  copyRow(src: MsgBlock, from: number, to: number): void {
    this.seq[to] = src.seq[from];
    this.state[to] = src.state[from];
    this.attempt[to] = src.attempt[from];
    this.at[to] = src.at[from];
    this.publishedAt[to] = src.publishedAt[from];
    this.expiresAt[to] = src.expiresAt[from];
    this.off[to] = src.off[from];
    this.len[to] = src.len[from];
    this.rec[to] = src.rec[from];
    this.pushId(to, src.idAt(from));
    this.bufs[to] = src.bufs[from];
  }
}

/**
 * A capture of one block's part of a store's live span, deleted slots included (`isLiveSlot`):
 * views of the block's columns, which the store no longer writes while they are shared. Rows
 * are numbered from 0; `bufs` is the block's own array, read at `base + i`, and the ids' code
 * units are the block's arena (`msgIdOf`).
 */
export interface MsgColumns {
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
  readonly idOff: Uint32Array;
  readonly idLen: Uint32Array;
  readonly chars: Uint8Array | Uint16Array;
  readonly base: number;
  /** The optional fields by row, when any row has some. */
  readonly extras: readonly (MsgExtras | undefined)[] | undefined;
  /** Lets go of the block (once): the store writes it in place again. Reading it afterwards is wrong. */
  release(): void;
}

/** Shares rows [a, b) of `blk` with a capture until its `release`. */
export function shareRows(
  blk: MsgBlock,
  a: number,
  b: number,
  extras: (MsgExtras | undefined)[] | undefined,
): MsgColumns {
  blk.frozen = Math.max(blk.frozen, b);
  blk.holders++;
  let held = true;
  return {
    seq: blk.seq.subarray(a, b),
    state: blk.state.subarray(a, b),
    attempt: blk.attempt.subarray(a, b),
    at: blk.at.subarray(a, b),
    publishedAt: blk.publishedAt.subarray(a, b),
    expiresAt: blk.expiresAt.subarray(a, b),
    off: blk.off.subarray(a, b),
    len: blk.len.subarray(a, b),
    rec: blk.rec.subarray(a, b),
    bufs: blk.bufs,
    idOff: blk.idOff.subarray(a, b),
    idLen: blk.idLen.subarray(a, b),
    chars: blk.chars,
    base: a,
    extras,
    release: () => {
      if (!held) return;
      held = false;
      if (--blk.holders === 0) blk.frozen = 0;
    },
  };
}

/** The optional fields of rows [a, b) of `blk`, by row (a capture's column). */
export function extrasOf(
  extras: ReadonlyMap<number, MsgExtras>,
  blk: MsgBlock,
  a: number,
  b: number,
): (MsgExtras | undefined)[] {
  const out: (MsgExtras | undefined)[] = new Array(b - a).fill(undefined);
  for (let j = a; j < b; j++) out[j - a] = extras.get(blk.seq[j]);
  return out;
}

/** The id of slot `i` of a capture. */
export function msgIdOf(c: MsgColumns, i: number): string {
  const off = c.idOff[i];
  return idOfUnits(c.chars.subarray(off, off + c.idLen[i]));
}

/** Whether slot `i` of a capture holds a message (not a deleted slot). */
export function isLiveSlot(c: MsgColumns, i: number): boolean {
  return (c.state[i] & REMOVED) === 0;
}
