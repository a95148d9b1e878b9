/**
 * The column side of `IdTable`: the fixed-size blocks its records live in, what a capture of
 * them looks like, and the helpers its columns use. Folder-private.
 *
 * Like a `MsgStore`'s, the blocks never copy as the table grows (a whole block is added), a
 * block the front passed is dropped, and a capture shares the blocks: it freezes the rows it
 * covers, and the table copies a block once before writing one of them (copy-on-write).
 *
 * @module
 */

import { charRoom, IdArena, idOfUnits } from "./_id_arena.ts";

/** Rows per block: 16,384 records of ~33 bytes of columns and their ids' code units. */
export const BLOCK_SHIFT = 14;
export const BLOCK_ROWS = 1 << BLOCK_SHIFT;
export const BLOCK_MASK = BLOCK_ROWS - 1;

/** A deleted record (its id was added again): it stays in place until the front passes it. */
export const GONE = 255;

/** Code units of id room per row a new block starts with (it doubles as needed). */
const CHARS_PER_ROW = 8;

/** One block of records: row `j` of each column is one record. */
export class IdBlock extends IdArena {
  seq: Float64Array;
  expiresAt: Float64Array;
  state: Uint8Array;
  attempt: Uint32Array;
  hash: Uint32Array;
  rows = 0;
  /** Rows [0, frozen) are shared with a capture: the table copies the block before writing one. */
  frozen = 0;
  /** How many captures share this block (it thaws when the last one lets go). */
  holders = 0;

  constructor(cap: number, charCap = cap * CHARS_PER_ROW, wide = false) {
    super(cap, charCap, wide);
    this.seq = new Float64Array(cap);
    this.expiresAt = new Float64Array(cap);
    this.state = new Uint8Array(cap);
    this.attempt = new Uint32Array(cap);
    this.hash = new Uint32Array(cap);
  }

  get cap(): number {
    return this.seq.length;
  }

  /** Appends a record at row `rows` (the caller made room for the row). */
  push(id: string, hash: number, seq: number, expiresAt: number, state: number, attempt: number) {
    const j = this.rows++;
    this.seq[j] = seq;
    this.expiresAt[j] = expiresAt;
    this.state[j] = state;
    this.attempt[j] = attempt;
    this.hash[j] = hash;
    this.pushId(j, id);
  }

  /** An empty block of `cap` rows to follow this one, its ids' room sized by this one's. */
  next(cap: number): IdBlock {
    return new IdBlock(cap, charRoom(this, cap, CHARS_PER_ROW));
  }

  /** A new block of `cap` rows holding rows [from, rows) of this one from row 0 (not frozen). */
  copy(cap: number, from: number): IdBlock {
    const to = this.rows;
    const room = cap === this.cap ? this.chars.length : cap * CHARS_PER_ROW;
    const b = new IdBlock(cap, Math.max(this.charsOf(from, to), room), this.wide);
    b.seq.set(this.seq.subarray(from, to));
    b.expiresAt.set(this.expiresAt.subarray(from, to));
    b.state.set(this.state.subarray(from, to));
    b.attempt.set(this.attempt.subarray(from, to));
    b.hash.set(this.hash.subarray(from, to));
    this.copyIdsTo(b, from, to);
    b.rows = to - from;
    return b;
  }
}

/** A capture of an `IdTable`'s records (see `capture`): the current ones and blocks of slots. */
export interface IdCapture {
  readonly count: number;
  /** The record number of the first slot of the first block. */
  readonly firstNo: number;
  readonly blocks: readonly IdColumns[];
}

/**
 * One block's part of a capture: views of the block's columns, which the table no longer writes
 * while they are shared. Its ids' code units start at `charBase` of `chars`.
 */
export interface IdColumns {
  readonly seq: Float64Array;
  readonly expiresAt: Float64Array;
  readonly state: Uint8Array;
  readonly attempt: Uint32Array;
  readonly idOff: Uint32Array;
  readonly idLen: Uint32Array;
  readonly chars: Uint8Array | Uint16Array;
  readonly charBase: number;
  /** Lets go of the block (once): the table writes it in place again. Reading it afterwards is wrong. */
  release(): void;
}

/** Shares rows [a, b) of `blk` with a capture until its `release`. */
export function shareIdRows(blk: IdBlock, a: number, b: number): IdColumns {
  blk.frozen = Math.max(blk.frozen, b);
  blk.holders++;
  let held = true;
  return {
    seq: blk.seq.subarray(a, b),
    expiresAt: blk.expiresAt.subarray(a, b),
    state: blk.state.subarray(a, b),
    attempt: blk.attempt.subarray(a, b),
    idOff: blk.idOff.subarray(a, b),
    idLen: blk.idLen.subarray(a, b),
    chars: blk.chars,
    charBase: 0,
    release: () => {
      if (!held) return;
      held = false;
      if (--blk.holders === 0) blk.frozen = 0;
    },
  };
}

/** Whether slot `i` of a capture is a current record. */
export function isCurrentSlot(c: IdColumns, i: number): boolean {
  return c.state[i] !== GONE;
}

/** Whether record `no` was current when `c` was captured (what `IdTable.isCurrent` answered). */
export function wasCurrent(c: IdCapture, no: number): boolean {
  const i = no - c.firstNo, first = c.blocks[0];
  if (i < 0 || first === undefined) return false;
  if (i < first.seq.length) return first.state[i] !== GONE;
  // Every block after the first starts at a block boundary.
  const k = 1 + ((i - first.seq.length) >>> BLOCK_SHIFT), j = (i - first.seq.length) & BLOCK_MASK;
  const b = c.blocks[k];
  return b !== undefined && j < b.seq.length && b.state[j] !== GONE;
}

/** The id of slot `i` of a capture. */
export function idOfSlot(c: IdColumns, i: number): string {
  const off = c.idOff[i] - c.charBase;
  return idOfUnits(c.chars.subarray(off, off + c.idLen[i]));
}

/** FNV-1a over UTF-16 code units. */
export function hashOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Buckets `indexInHomeOrder` sorts slots into by home position (a few cache lines each). */
const HOME_BUCKETS = 1 << 16;

/**
 * Puts slots 0..count-1, whose hashes `hashAt` gives, into the empty open-addressing `index`
 * (linear probing; a position is two words, slot + 1 and the hash, as `IdTable` keeps them; a
 * power of two positions, at least twice `count`) in the order of their
 * home positions (bucketed), so the index is written front to back: inserted one by one as a
 * restore appends them, each went to a random position of an index of several MB (a cache miss
 * each, ~350 ns: a third of a second at 1,000,000 ids). No slot's id is compared with another's:
 * the caller's ids are unique (a snapshot holds current records only), and linear probing finds
 * every key whatever order they went in.
 */
export function indexInHomeOrder(
  index: Uint32Array,
  count: number,
  hashAt: (slot: number) => number,
): void {
  const positions = index.length >>> 1, mask = positions - 1;
  const buckets = Math.min(HOME_BUCKETS, positions);
  const shift = Math.log2(positions) - Math.log2(buckets);
  const homes = new Uint32Array(count), starts = new Uint32Array(buckets + 1);
  for (let i = 0; i < count; i++) {
    const home = hashAt(i) & mask;
    homes[i] = home;
    starts[(home >>> shift) + 1]++;
  }
  for (let b = 0; b < buckets; b++) starts[b + 1] += starts[b];
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[starts[homes[i] >>> shift]++] = i;
  for (let k = 0; k < count; k++) {
    const i = order[k];
    let p = homes[i];
    while (index[2 * p] !== 0) p = (p + 1) & mask;
    index[2 * p] = i + 1;
    index[2 * p + 1] = hashAt(i);
  }
}

/** Record states by code. Append-only: the code is in snapshots. */
export const ID_STATES = ["live", "acked", "dead"] as const;
export type IdState = typeof ID_STATES[number];

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

/** The smallest block (a table's only block doubles from it up to a whole one). */
export const MIN_CAPACITY = 16;

/** The power of two at least `n`, and at least the smallest block, at most a whole one. */
export function roundUp(n: number): number {
  let cap = MIN_CAPACITY;
  while (cap < n) cap *= 2;
  return Math.min(cap, BLOCK_ROWS);
}
