import assert from "node:assert/strict";
import { type Session, SessionTable } from "./_sessions.ts";

/** `SessionTable.expire` as it was before it remembered the front's end: walk from the front. */
function expireByWalking(t: SessionTable, now: number): void {
  for (const s of [...t.byId.values()]) {
    if (s.lastActive + s.timeoutMs > now) return;
    t.close(s);
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

const view = (t: SessionTable) =>
  [...t.byId.values()].map((s: Session) => [s.id, s.lastActive, s.timeoutMs]);

Deno.test("expire drops the same sessions, in the same order, as walking from the front every time", () => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = rng(seed);
    const fast = new SessionTable();
    const slow = new SessionTable();
    let now = 1_000;
    let nextId = 1;
    for (let step = 0; step < 400; step++) {
      now += Math.floor(r() * 3) === 0 ? Math.floor(r() * 4_000) : 0;
      const ids = [...fast.byId.keys()];
      const pick = ids[Math.floor(r() * ids.length)];
      const k = r();
      for (const t of [fast, slow]) {
        if (t === fast) t.expire(now);
        else expireByWalking(t, now);
        if (k < 0.25) t.open(nextId, "", [1_000, 2_500, 10_000][nextId % 3], now);
        else if (k < 0.85 && pick !== undefined && t.byId.has(pick)) {
          t.touch(t.byId.get(pick)!, now);
        } else if (pick !== undefined && t.byId.has(pick)) t.close(t.byId.get(pick)!);
      }
      if (k < 0.25) nextId++;
      assert.deepEqual(view(fast), view(slow), `seed ${seed} step ${step}`);
      assert.equal(fast.bytes, slow.bytes);
    }
  }
});
