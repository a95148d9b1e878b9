import assert from "node:assert/strict";
import { type IdemRecord, IdemTable } from "./_ids.ts";

/** `IdemTable.expire` as it was before it remembered the front's end: walk from the front. */
function expireByWalking(t: IdemTable, now: number): void {
  for (const [key, r] of [...t.byKey]) {
    if (r.expiresAt > now) return;
    t.byKey.delete(key);
  }
}

/** A small deterministic random source. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const rec = (key: string, expiresAt: number): IdemRecord => ({
  key,
  fingerprint: "f",
  result: { ok: true },
  expiresAt,
});

Deno.test("expire forgets the same keys as walking from the front every time", () => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = rng(seed);
    const fast = new IdemTable(5_000);
    const slow = new IdemTable(5_000);
    let now = 1_000;
    for (let step = 0; step < 400; step++) {
      now += Math.floor(r() * 3) === 0 ? Math.floor(r() * 2_000) : 0;
      const key = `k${Math.floor(r() * 30)}`;
      const k = r();
      fast.expire(now);
      expireByWalking(slow, now);
      for (const t of [fast, slow]) {
        if (k < 0.5) t.put(rec(key, now + fast.ttlMs));
        else if (k < 0.7) t.delete(key);
      }
      assert.deepEqual([...fast.byKey.keys()], [...slow.byKey.keys()], `seed ${seed} step ${step}`);
    }
  }
});
