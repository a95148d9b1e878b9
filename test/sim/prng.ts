/**
 * The simulator's only source of randomness: sfc32 (Chris Doty-Humphrey's Small Fast Counting
 * generator), seeded through splitmix32. Every random choice of a run (Raft election jitter,
 * network faults, the nemesis, the workload) derives from one seed, so the same seed replays the
 * same run byte for byte.
 *
 * @module
 */

/** Expands a 32-bit seed into well-mixed words (splitmix32), so seeds 1, 2, 3 look unrelated. */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [next, (z ^ (z >>> 16)) >>> 0];
}

/** A seeded pseudo-random generator; `fork()` derives independent child streams. */
export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** @param seed any integer; only its low 32 bits matter. */
  constructor(seed: number) {
    let s = seed | 0;
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [next, out] = splitmix32(s);
      s = next;
      words.push(out);
    }
    this.#a = words[0];
    this.#b = words[1];
    this.#c = words[2];
    this.#d = words[3];
    // sfc32 needs a few rounds to decorrelate from the seed words.
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** The next 32-bit unsigned integer. */
  uint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    if (!(n >= 1)) throw new Error(`Cannot draw an integer below ${n}: the bound must be >= 1`);
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi], both ends included. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("Cannot pick from an empty array");
    return items[this.int(items.length)];
  }

  /** A shuffled copy (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = out[i];
      out[i] = out[j];
      out[j] = tmp;
    }
    return out;
  }

  /**
   * An independent child stream. Forking consumes one draw of this stream, so the child's
   * sequence depends only on the parent's state, never on how much the child is used later.
   */
  fork(): Prng {
    return new Prng(this.uint32());
  }
}
