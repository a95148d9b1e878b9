import assert from "node:assert/strict";
import fc from "fast-check";
import { EventHeap, NumberHeap, SeqQueue, SeqTable } from "./_structs.ts";

Deno.test("NumberHeap pops any pushed numbers in ascending order", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -50, max: 50 }), { maxLength: 200 }), (xs) => {
      const h = new NumberHeap();
      xs.forEach((x) => h.push(x));
      const out: number[] = [];
      for (let x = h.pop(); x !== undefined; x = h.pop()) out.push(x);
      assert.deepEqual(out, [...xs].sort((a, b) => a - b));
    }),
  );
});

Deno.test("SeqQueue answers as NumberHeap does through any pushes and pops", () => {
  // Mostly ascending runs (publishes) with pushes below them (requeues), pops in between.
  const op = fc.oneof(
    fc.record({ push: fc.integer({ min: 0, max: 5000 }) }),
    fc.record({ up: fc.integer({ min: 1, max: 3000 }) }),
    fc.record({ pop: fc.integer({ min: 1, max: 3000 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const q = new SeqQueue();
      const h = new NumberHeap();
      let next = 0;
      const same = () => {
        assert.equal(q.size, h.size);
        assert.equal(q.peek(), h.peek());
        assert.deepEqual(
          [...q.values()].sort((a, b) => a - b),
          [...h.values()].sort((a, b) => a - b),
        );
      };
      for (const o of ops) {
        if ("push" in o) {
          q.push(o.push);
          h.push(o.push);
        } else if ("up" in o) {
          for (let k = 0; k < o.up; k++, next++) {
            q.push(next);
            h.push(next);
          }
        } else {
          for (let k = 0; k < o.pop; k++) assert.equal(q.pop(), h.pop());
        }
        same();
      }
      for (let x = h.pop(); x !== undefined; x = h.pop()) assert.equal(q.pop(), x);
      assert.equal(q.pop(), undefined);
      same();
    }),
    { numRuns: 300 },
  );
});

Deno.test("SeqQueue: a long run popped past its compaction point, with requeues below it", () => {
  const q = new SeqQueue();
  for (let s = 1; s <= 10_000; s++) q.push(s);
  for (let s = 1; s <= 6_000; s++) assert.equal(q.pop(), s);
  q.push(3);
  q.push(10_001);
  q.push(2);
  assert.equal(q.size, 4_003);
  assert.deepEqual([q.pop(), q.pop(), q.pop()], [2, 3, 6_001]);
  for (let s = 6_002; s <= 10_001; s++) assert.equal(q.pop(), s);
  assert.equal(q.pop(), undefined);
  assert.equal(q.size, 0);
});

Deno.test("SeqQueue: runs emptied exactly at a chunk's end, at its start, and pushed again", () => {
  for (const n of [1, 4095, 4096, 4097, 8192, 12_289]) {
    const q = new SeqQueue();
    for (let round = 0; round < 3; round++) {
      const base = round * 100_000;
      for (let s = 1; s <= n; s++) q.push(base + s);
      assert.equal(q.size, n);
      assert.deepEqual([...q.values()].length, n);
      for (let s = 1; s <= n; s++) assert.equal(q.pop(), base + s, `n ${n} round ${round}`);
      assert.equal(q.pop(), undefined);
      assert.equal(q.size, 0);
      assert.deepEqual([...q.values()], []);
    }
  }
});

Deno.test("EventHeap pops events by time, then ordinal, seq and kind", () => {
  const h = new EventHeap();
  const ev = (at: number, ord: number, seq: number, kind: 0 | 1 | 2 | 3) => ({
    at,
    ord,
    seq,
    kind,
    attempt: 0,
  });
  for (
    const e of [ev(5, 1, 1, 0), ev(3, 2, 9, 1), ev(3, 1, 9, 2), ev(3, 1, 9, 1), ev(3, 1, 2, 2)]
  ) {
    h.push(e);
  }
  const order: string[] = [];
  for (let e = h.pop(); e !== undefined; e = h.pop()) {
    order.push(`${e.at}/${e.ord}/${e.seq}/${e.kind}`);
  }
  assert.deepEqual(order, ["3/1/2/2", "3/1/9/1", "3/1/9/2", "3/2/9/1", "5/1/1/0"]);
});

Deno.test("EventHeap pops as a sort by (at, ord, seq, kind, attempt) through any pushes and pops", () => {
  type Ev = { at: number; ord: number; seq: number; kind: 0 | 1 | 2 | 3 | 4; attempt: number };
  const key = (e: Ev | undefined) =>
    e === undefined ? "none" : `${e.at}/${e.ord}/${e.seq}/${e.kind}/${e.attempt}`;
  const less = (x: Ev, y: Ev) =>
    x.at !== y.at
      ? x.at < y.at
      : x.ord !== y.ord
      ? x.ord < y.ord
      : x.seq !== y.seq
      ? x.seq < y.seq
      : x.kind !== y.kind
      ? x.kind < y.kind
      : x.attempt < y.attempt;
  // Mostly in order (lease ends a fixed time after an entry time that never goes back), with
  // events below the last (another channel's shorter lease, a delay, a TTL), ties, and pops.
  const ev = fc.record({
    back: fc.integer({ min: 0, max: 4 }),
    dt: fc.integer({ min: 0, max: 3 }),
    ord: fc.integer({ min: 1, max: 3 }),
    seq: fc.integer({ min: 1, max: 4 }),
    kind: fc.constantFrom(0, 1, 2, 3, 4),
    attempt: fc.integer({ min: 0, max: 2 }),
  });
  const op = fc.oneof(
    { arbitrary: fc.record({ push: fc.array(ev, { maxLength: 30 }) }), weight: 3 },
    { arbitrary: fc.record({ pop: fc.integer({ min: 1, max: 20 }) }), weight: 1 },
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
      const h = new EventHeap();
      const model: Ev[] = [];
      let now = 100;
      const min = () =>
        model.reduce<Ev | undefined>((m, e) => (m && !less(e, m) ? m : e), undefined);
      for (const o of ops) {
        if ("push" in o) {
          for (const x of o.push) {
            now += x.dt;
            const e: Ev = {
              at: now - (x.back === 0 ? 5 : 0),
              ord: x.ord,
              seq: x.seq,
              kind: x.kind as Ev["kind"],
              attempt: x.attempt,
            };
            h.push(e);
            model.push(e);
          }
        } else {
          for (let k = 0; k < o.pop; k++) {
            const want = min();
            assert.equal(key(h.peek()), key(want));
            const got = h.pop();
            assert.equal(key(got), key(want));
            if (want !== undefined) model.splice(model.indexOf(want), 1);
          }
        }
        assert.equal(h.size, model.length);
      }
      for (let want = min(); want !== undefined; want = min()) {
        assert.equal(key(h.pop()), key(want));
        model.splice(model.indexOf(want), 1);
      }
      assert.equal(h.pop(), undefined);
      assert.equal(h.size, 0);
    }),
    { numRuns: 500 },
  );
});

Deno.test("EventHeap: a long run popped past its compaction point, with events below it", () => {
  const h = new EventHeap();
  const ev = (at: number) => ({ at, ord: 1, seq: at, kind: 1 as const, attempt: 1 });
  for (let t = 1; t <= 10_000; t++) h.push(ev(t));
  for (let t = 1; t <= 6_000; t++) assert.equal(h.pop()?.at, t);
  h.push(ev(3));
  h.push(ev(10_001));
  h.push(ev(2));
  assert.equal(h.size, 4_003);
  assert.deepEqual([h.pop()?.at, h.pop()?.at, h.peek()?.at, h.pop()?.at], [2, 3, 6_001, 6_001]);
  for (let t = 6_002; t <= 10_001; t++) assert.equal(h.pop()?.at, t);
  assert.equal(h.pop(), undefined);
});

Deno.test("SeqTable keeps values by seq through appends with gaps and deletes", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 3 })), { maxLength: 3000 }),
      (ops) => {
        const t = new SeqTable<number>();
        const model = new Map<number, number>();
        let next = 1;
        for (const [append, k] of ops) {
          if (append) {
            t.append(next, next * 10);
            model.set(next, next * 10);
            next += k;
          } else {
            const keys = [...model.keys()];
            const seq = keys[(k * 7919) % Math.max(1, keys.length)];
            if (seq !== undefined) {
              t.delete(seq);
              model.delete(seq);
            }
          }
        }
        assert.equal(t.count, model.size);
        assert.deepEqual([...t.values()], [...model.values()]);
        for (let s = 0; s <= next; s++) assert.equal(t.get(s), model.get(s));
        assert.equal(t.first(), model.size === 0 ? undefined : [...model.values()][0]);
      },
    ),
    { numRuns: 50 },
  );
});

Deno.test("SeqTable keeps values by seq through gaps long enough to turn it sparse", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(3), fc.constantFrom(1, 2, 900, 5000)), { maxLength: 400 }),
      (ops) => {
        const t = new SeqTable<number>();
        const model = new Map<number, number>();
        let next = 1;
        let last = 0;
        for (const [op, k] of ops) {
          if (op > 0) {
            t.append(next, next * 10);
            model.set(next, next * 10);
            last = next;
            next += k;
          } else {
            const keys = [...model.keys()];
            const seq = keys[(k * 7919) % Math.max(1, keys.length)];
            if (seq !== undefined) {
              t.delete(seq);
              model.delete(seq);
            }
          }
          assert.equal(t.first(), model.size === 0 ? undefined : [...model.values()][0]);
        }
        assert.equal(t.count, model.size);
        assert.deepEqual([...t.values()], [...model.values()]);
        const seen: number[] = [];
        t.forEach((v) => seen.push(v));
        assert.deepEqual(seen, [...model.values()]);
        for (const s of model.keys()) {
          for (const d of [-1, 0, 1]) assert.equal(t.get(s + d), model.get(s + d));
        }
        if (model.size > 0) assert.throws(() => t.append(last, 0), /not above/);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("SeqTable refuses an append that does not go above the last seq", () => {
  const t = new SeqTable<string>();
  t.append(5, "a");
  assert.throws(() => t.append(5, "b"), /not above/);
});
