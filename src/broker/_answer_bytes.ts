/**
 * The size estimate of a stored answer that the session and idempotency bounds count. A leaf, so
 * that the id tables can count bytes without importing the answer machinery (which needs
 * channels, which need the id tables). Folder-private.
 *
 * @module
 */

/**
 * A deterministic estimate of a value's bytes in memory: what the byte bounds count. Not the
 * exact heap size (that depends on the engine), but the same on every replica and in proportion
 * to it; docs/broker.md gives measured heap figures next to it.
 */
export function answerBytes(v: unknown): number {
  if (typeof v === "string") return 16 + v.length;
  if (typeof v === "number" || typeof v === "boolean" || v === undefined || v === null) return 8;
  if (v instanceof Uint8Array) return 32 + v.length;
  if (Array.isArray(v)) {
    // By index, numbers counted in place: a stored receive holds 3 numbers per delivery, and a
    // `for...of` here (a call site that sees every kind of value) made an iterator result per
    // element, ~30 MB over a chaos log's 10,000 entries. The same sum: a hole reads undefined.
    let n = 16;
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      n += typeof x === "number" ? 8 : answerBytes(x);
    }
    return n;
  }
  if (typeof v === "object") {
    let n = 16;
    const o = v as Record<string, unknown>;
    // for-in over a plain object (answers are plain objects): the keys of Object.entries without
    // allocating its arrays, on the apply path of every session write.
    for (const k in o) {
      if (Object.hasOwn(o, k)) n += 8 + k.length + answerBytes(o[k]);
    }
    return n;
  }
  return 8;
}
