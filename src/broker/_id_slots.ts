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

/** Rows per block: 16,384 records of ~33 bytes of columns and their ids' code units. */
export const BLOCK_SHIFT = 14;
export const BLOCK_ROWS = 1 << BLOCK_SHIFT;
export const BLOCK_MASK = BLOCK_ROWS - 1;

/** A deleted record (its id was added again): it stays in place until the front passes it. */
export const GONE = 255;

/** Code units of id room per row a new block starts with (it doubles as needed). */
const CHARS_PER_ROW = 8;

/** One block of records: row `j` of each column is one record. */
export class IdBlock {
  seq: Float64Array;
  expiresAt: Float64Array;
  state: Uint8Array;
  attempt: Uint32Array;
  hash: Uint32Array;
  idOff: Uint32Array;
  idLen: Uint32Array;
  /** The ids' code units, row after row: bytes until an id has a code unit above 0xff. */
  chars: Uint8Array | Uint16Array;
  charsUsed = 0;
  rows = 0;
  /** Rows [0, frozen) are shared with a capture: the table copies the block before writing one. */
  frozen = 0;
  /** How many captures share this block (it thaws when the last one lets go). */
  holders = 0;

  constructor(cap: number, charCap = cap * CHARS_PER_ROW, wide = false) {
    this.seq = new Float64Array(cap);
    this.expiresAt = new Float64Array(cap);
    this.state = new Uint8Array(cap);
    this.attempt = new Uint32Array(cap);
    this.hash = new Uint32Array(cap);
    this.idOff = new Uint32Array(cap);
    this.idLen = new Uint32Array(cap);
    this.chars = wide ? new Uint16Array(charCap) : new Uint8Array(charCap);
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
    if (this.charsUsed + id.length > this.chars.length) this.#growChars(id.length);
    let chars = this.chars;
    const at = this.charsUsed;
    this.idOff[j] = at;
    this.idLen[j] = id.length;
    for (let k = 0; k < id.length; k++) {
      const u = id.charCodeAt(k);
      if (u > 0xff && chars instanceof Uint8Array) chars = this.#widenChars();
      chars[at + k] = u;
    }
    this.charsUsed += id.length;
  }

  sameId(j: number, id: string): boolean {
    if (this.idLen[j] !== id.length) return false;
    const c = this.chars, off = this.idOff[j];
    for (let k = 0; k < id.length; k++) if (c[off + k] !== id.charCodeAt(k)) return false;
    return true;
  }

  idAt(j: number): string {
    const off = this.idOff[j];
    return String.fromCharCode(...this.chars.subarray(off, off + this.idLen[j]));
  }

  /** A new block of `cap` rows holding rows [from, rows) of this one from row 0 (not frozen). */
  copy(cap: number, from: number): IdBlock {
    const to = this.rows;
    const c0 = from < to ? this.idOff[from] : this.charsUsed, c1 = this.charsUsed;
    const room = cap === this.cap ? this.chars.length : cap * CHARS_PER_ROW;
    const b = new IdBlock(cap, Math.max(c1 - c0, room), this.chars instanceof Uint16Array);
    b.seq.set(this.seq.subarray(from, to));
    b.expiresAt.set(this.expiresAt.subarray(from, to));
    b.state.set(this.state.subarray(from, to));
    b.attempt.set(this.attempt.subarray(from, to));
    b.hash.set(this.hash.subarray(from, to));
    b.idOff.set(this.idOff.subarray(from, to));
    b.idLen.set(this.idLen.subarray(from, to));
    b.chars.set(this.chars.subarray(c0, c1));
    b.charsUsed = c1 - c0;
    b.rows = to - from;
    if (c0 > 0) { for (let j = 0; j < b.rows; j++) b.idOff[j] -= c0; }
    return b;
  }

  /** A new arena: a capture may hold the old one, whose used part stays as it was. */
  #growChars(need: number): void {
    const n = Math.max(this.chars.length * 2, this.charsUsed + need);
    const c = this.chars instanceof Uint8Array ? new Uint8Array(n) : new Uint16Array(n);
    c.set(this.chars.subarray(0, this.charsUsed));
    this.chars = c;
  }

  /** The first id with a code unit above 0xff: the arena takes two bytes a code unit from now. */
  #widenChars(): Uint16Array {
    // All of it: the id being written may have code units past `charsUsed` already.
    const c = new Uint16Array(this.chars.length);
    c.set(this.chars);
    return this.chars = c;
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
  return String.fromCharCode(...c.chars.subarray(off, off + c.idLen[i]));
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
