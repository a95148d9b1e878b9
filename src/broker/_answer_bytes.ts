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
    let n = 16;
    for (const x of v) n += answerBytes(x);
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
