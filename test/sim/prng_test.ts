import assert from "node:assert/strict";
import { Prng } from "./prng.ts";

function draws(p: Prng, n: number): number[] {
  return Array.from({ length: n }, () => p.uint32());
}

Deno.test("Prng replays the same sequence from the same seed", () => {
  assert.deepEqual(draws(new Prng(42), 100), draws(new Prng(42), 100));
});

Deno.test("Prng gives unrelated sequences for neighbouring seeds", () => {
  const a = draws(new Prng(1), 50);
  const b = draws(new Prng(2), 50);
  assert.equal(a.filter((x, i) => x === b[i]).length, 0);
});

Deno.test("Prng.int stays in [0, n) and hits every value", () => {
  const p = new Prng(7);
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const v = p.int(5);
    assert.ok(v >= 0 && v < 5 && Number.isInteger(v), `int(5) gave ${v}`);
    seen.add(v);
  }
  assert.equal(seen.size, 5);
});

Deno.test("Prng.next is roughly uniform on [0, 1)", () => {
  const p = new Prng(9);
  let sum = 0;
  for (let i = 0; i < 10_000; i++) {
    const v = p.next();
    assert.ok(v >= 0 && v < 1);
    sum += v;
  }
  assert.ok(Math.abs(sum / 10_000 - 0.5) < 0.02, `mean ${sum / 10_000}`);
});

Deno.test("Prng.fork gives a child whose draws do not depend on later parent use", () => {
  const p1 = new Prng(3);
  const c1 = p1.fork();
  const p2 = new Prng(3);
  const c2 = p2.fork();
  draws(p2, 10); // using the parent does not change the child
  assert.deepEqual(draws(c1, 20), draws(c2, 20));
  assert.notDeepEqual(draws(new Prng(3).fork(), 5), draws(new Prng(3), 5));
});

Deno.test("Prng.shuffle returns a permutation", () => {
  const p = new Prng(11);
  const out = p.shuffle([1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...out].sort(), [1, 2, 3, 4, 5, 6]);
});
