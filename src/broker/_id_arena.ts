/**
 * The ids of a block's rows as code units in one arena, row after row (a byte each until an id is
 * not Latin-1), at `idOff`, `idLen` long: a million ids as strings cost ~42 MB of heap and a
 * million objects for the collector to trace, in here ~22 MB outside the heap. The message
 * store's blocks and the id table's blocks both keep their ids so (`MsgBlock`, `IdBlock`).
 *
 * @module
 */

/**
 * An id from its code units. `apply` takes the array as it is; a spread (`...units`) went through
 * the array's iterator at ~2 µs an id, which every node paid for every delivery it applied.
 */
export function idOfUnits(units: Uint8Array | Uint16Array): string {
  return String.fromCharCode.apply(null, units as unknown as number[]);
}

/**
 * The code units of id room a new block of `cap` rows starts with, after block `prev`: as many as
 * `prev` used, and an eighth more, when it was a whole block of `cap` rows (a channel's ids tend to
 * be alike: the peers' B100 ids are ~30 characters, so a block that started at `perRow` a row, 8
 * or 16, grew its arena twice or once, each time a fresh buffer and a copy of every id so far, ~1%
 * of a node's CPU in that workload); else `cap * perRow`.
 */
export function charRoom(prev: IdArena | undefined, cap: number, perRow: number): number {
  const fresh = cap * perRow;
  if (prev === undefined || prev.idLen.length !== cap) return fresh;
  return Math.max(fresh, prev.charsUsed + (prev.charsUsed >>> 3));
}

/** A block's id columns and their arena (see the module). */
export class IdArena {
  idOff: Uint32Array;
  idLen: Uint32Array;
  /** The ids' code units, row after row: bytes until an id has a code unit above 0xff. */
  chars: Uint8Array | Uint16Array;
  charsUsed = 0;

  constructor(cap: number, charCap: number, wide: boolean) {
    this.idOff = new Uint32Array(cap);
    this.idLen = new Uint32Array(cap);
    this.chars = wide ? new Uint16Array(charCap) : new Uint8Array(charCap);
  }

  /** True once an id was not Latin-1: two bytes a code unit. */
  get wide(): boolean {
    return this.chars instanceof Uint16Array;
  }

  /** The id of row `j`. */
  idAt(j: number): string {
    const off = this.idOff[j];
    return idOfUnits(this.chars.subarray(off, off + this.idLen[j]));
  }

  /** True when row `j`'s id is `id`. */
  sameId(j: number, id: string): boolean {
    if (this.idLen[j] !== id.length) return false;
    const c = this.chars, off = this.idOff[j];
    for (let k = 0; k < id.length; k++) if (c[off + k] !== id.charCodeAt(k)) return false;
    return true;
  }

  /** Stores the id of row `j`, the next row (past the frozen ones: a capture never sees it). */
  pushId(j: number, id: string): void {
    if (this.charsUsed + id.length > this.chars.length) this.#growChars(id.length);
    let chars = this.chars;
    const at = this.charsUsed;
    for (let k = 0; k < id.length; k++) {
      const u = id.charCodeAt(k);
      if (u > 0xff && chars instanceof Uint8Array) chars = this.#widenChars();
      chars[at + k] = u;
    }
    this.idOff[j] = at;
    this.idLen[j] = id.length;
    this.charsUsed += id.length;
  }

  /** Code units the ids of rows [from, to) take, `to` the rows in use. */
  charsOf(from: number, to: number): number {
    return this.charsUsed - (from < to ? this.idOff[from] : this.charsUsed);
  }

  /** Copies the ids of rows [from, to) (`to` the rows in use) into a fresh `b`, from row 0. */
  copyIdsTo(b: IdArena, from: number, to: number): void {
    const c0 = from < to ? this.idOff[from] : this.charsUsed, c1 = this.charsUsed;
    b.idOff.set(this.idOff.subarray(from, to));
    b.idLen.set(this.idLen.subarray(from, to));
    b.chars.set(this.chars.subarray(c0, c1));
    b.charsUsed = c1 - c0;
    if (c0 > 0) { for (let j = 0; j < to - from; j++) b.idOff[j] -= c0; }
  }

  /** Moves the ids of rows [from, to) (`to` the rows in use) to row 0 of this arena. */
  shiftIdsDown(from: number, to: number): void {
    const c0 = from < to ? this.idOff[from] : this.charsUsed, c1 = this.charsUsed;
    this.idOff.copyWithin(0, from, to);
    this.idLen.copyWithin(0, from, to);
    this.chars.copyWithin(0, c0, c1);
    this.charsUsed = c1 - c0;
    if (c0 > 0) { for (let j = 0; j < to - from; j++) this.idOff[j] -= c0; }
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
