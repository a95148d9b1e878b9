/**
 * Where a msgpack value ends, by its structure alone, without making it: for a batch item the
 * entry reader does not read (`readEntryItems` in `_entry_reader.ts`), so that the item is refused
 * alone and its neighbours still apply. Plain msgpack: an extension is its header and its data
 * (msgpackr's extensions that wrap the value after them, a Set with `moreTypes`, are two values
 * here). A pure function of the bytes. Folder-private.
 *
 * @module
 */

/** Thrown inside `skipValue` when the bytes do not hold a value; never escapes. */
const NOT_HELD = Symbol("not held");

/** Bytes after the type byte 0xca..0xd8: float32/64, (u)int 8..64, fixext 1..16 (with its type). */
const FIXED_SIZE = [4, 8, 1, 2, 4, 8, 1, 2, 4, 8, 2, 3, 5, 9, 17];

/**
 * The end of the msgpack value at `src[pos]`, or -1 when `src[pos, end)` does not hold one:
 * truncated, the never-used byte 0xc1, or more than `maxDepth` arrays and maps one in another.
 */
export function skipValue(src: Uint8Array, pos: number, end: number, maxDepth: number): number {
  let at = pos;
  const skipBytes = (n: number): void => {
    if (n > end - at) throw NOT_HELD;
    at += n;
  };
  const length = (n: 1 | 2 | 4): number => {
    if (n > end - at) throw NOT_HELD;
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + src[at++];
    return v;
  };
  const skipValues = (n: number, depth: number): void => {
    if (n > end - at || depth > maxDepth) throw NOT_HELD; // each value takes a byte at least
    for (let i = 0; i < n; i++) skip(depth);
  };
  const skip = (depth: number): void => {
    if (at >= end) throw NOT_HELD;
    const t = src[at++];
    if (t < 0x80 || t >= 0xe0) return; // fixints
    if (t < 0x90) return skipValues(2 * (t - 0x80), depth + 1);
    if (t < 0xa0) return skipValues(t - 0x90, depth + 1);
    if (t < 0xc0) return skipBytes(t - 0xa0);
    if (t >= 0xca && t <= 0xd8) return skipBytes(FIXED_SIZE[t - 0xca]);
    switch (t) {
      case 0xc0: // nil, false, true
      case 0xc2:
      case 0xc3:
        return;
      case 0xc4: // bin and str 8, 16, 32
      case 0xd9:
        return skipBytes(length(1));
      case 0xc5:
      case 0xda:
        return skipBytes(length(2));
      case 0xc6:
      case 0xdb:
        return skipBytes(length(4));
      case 0xc7: // ext 8, 16, 32: the type byte, then the data
        return skipBytes(length(1) + 1);
      case 0xc8:
        return skipBytes(length(2) + 1);
      case 0xc9:
        return skipBytes(length(4) + 1);
      case 0xdc:
        return skipValues(length(2), depth + 1);
      case 0xdd:
        return skipValues(length(4), depth + 1);
      case 0xde:
        return skipValues(2 * length(2), depth + 1);
      case 0xdf:
        return skipValues(2 * length(4), depth + 1);
    }
    throw NOT_HELD; // 0xc1
  };
  try {
    skip(0);
    return at;
  } catch (e) {
    if (e === NOT_HELD) return -1;
    throw e;
  }
}
