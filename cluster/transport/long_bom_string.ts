/**
 * msgpackr's JavaScript reader (the only one this project loads: deno.json maps `msgpackr` to
 * the package's pure-JS build) decodes a string over 64 bytes with a `TextDecoder` that drops a
 * leading U+FEFF, so such a string would come out one character short. Where msgpackr still
 * decodes bytes from the network, the caller looks for one here and refuses the bytes rather
 * than hand on an altered value.
 *
 * @module
 */

/**
 * Where in `bytes[start, end)` a msgpack string over 64 bytes led by U+FEFF (EF BB BF) starts,
 * or -1. A str8, str16 or str32 header whose length is over 64 just before EF BB BF: it may also
 * be found inside other bytes (a bin, another string), so a find is cause to refuse, not proof.
 */
export function longStringLedByBom(bytes: Uint8Array, start: number, end: number): number {
  for (let k = start + 2; k + 2 < end; k++) {
    if (bytes[k] !== 0xef || bytes[k + 1] !== 0xbb || bytes[k + 2] !== 0xbf) continue;
    if (headerOver64Before(bytes, k, start)) return k;
  }
  return -1;
}

function headerOver64Before(b: Uint8Array, k: number, start: number): boolean {
  if (b[k - 2] === 0xd9 && b[k - 1] > 64) return true;
  if (k - 3 >= start && b[k - 3] === 0xda && ((b[k - 2] << 8) | b[k - 1]) > 64) return true;
  return k - 5 >= start && b[k - 5] === 0xdb &&
    (b[k - 4] !== 0 || b[k - 3] !== 0 || ((b[k - 2] << 8) | b[k - 1]) > 64);
}
