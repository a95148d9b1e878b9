/**
 * The column side of `IdTable`: what a capture of its slots looks like, and the helpers its
 * columns use. Folder-private.
 *
 * @module
 */

/** A deleted record (its id was added again): it stays in place until the front passes it. */
export const GONE = 255;

/** A copy of an `IdTable`'s records (see `capture`): the current ones and blocks of slots. */
export interface IdCapture {
  readonly count: number;
  readonly blocks: readonly IdColumns[];
}

/** A block of an `IdTable`'s slots; its ids' code units start at `charBase` of the table's. */
export interface IdColumns {
  readonly seq: Float64Array;
  readonly expiresAt: Float64Array;
  readonly state: Uint8Array;
  readonly attempt: Uint32Array;
  readonly idOff: Uint32Array;
  readonly idLen: Uint32Array;
  readonly chars: Uint8Array | Uint16Array;
  readonly charBase: number;
}

/** Whether slot `i` of a capture is a current record. */
export function isCurrentSlot(c: IdColumns, i: number): boolean {
  return c.state[i] !== GONE;
}

/** The id of slot `i` of a capture. */
export function idOfSlot(c: IdColumns, i: number): string {
  const off = c.idOff[i] - c.charBase;
  return String.fromCharCode(...c.chars.subarray(off, off + c.idLen[i]));
}

export function isLatin1(id: string): boolean {
  for (let k = 0; k < id.length; k++) if (id.charCodeAt(k) > 0xff) return false;
  return true;
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

/** `a[head, len)` moved to the front of an array of `cap` slots (`a` itself when it fits). */
export function moved<T extends Float64Array | Uint8Array | Uint32Array>(
  a: T,
  head: number,
  len: number,
  cap: number,
  make: new (n: number) => T,
): T {
  if (cap === a.length) {
    a.copyWithin(0, head, len);
    return a;
  }
  const b = new make(cap);
  b.set(a.subarray(head, len));
  return b;
}
