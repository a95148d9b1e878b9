import assert from "node:assert/strict";
import fc from "fast-check";
import { ID_STATES, idOfSlot, IdTable, isCurrentSlot } from "./_id_table.ts";

/** The plain model: the Map-of-records table the columnar one replaced. */
class ModelTable {
  byId = new Map<
    string,
    { no: number; seq: number; state: number; attempt: number; exp: number }
  >();
  #next = 0;

  lookup(id: string, now: number) {
    const r = this.byId.get(id);
    return r !== undefined && r.exp > now ? r : undefined;
  }

  add(id: string, seq: number, exp: number): number {
    this.byId.delete(id);
    const r = { no: this.#next++, seq, state: 0, attempt: 0, exp };
    this.byId.set(id, r);
    return r.no;
  }

  #current(no: number) {
    for (const r of this.byId.values()) if (r.no === no) return r;
    return undefined;
  }

  isCurrent(no: number): boolean {
    return this.#current(no) !== undefined;
  }

  settle(no: number, state: number, attempt: number): void {
    const r = this.#current(no);
    if (r !== undefined) [r.state, r.attempt] = [state, attempt];
  }

  settledAt(seq: number, now: number) {
    for (const r of this.byId.values()) {
      if (r.seq === seq && r.state !== 0 && r.exp > now) return r;
    }
    return undefined;
  }

  expire(now: number): void {
    for (const [id, r] of this.byId) {
      if (r.exp > now) break;
      this.byId.delete(id);
    }
  }
}

type Op =
  | { op: "add"; id: number; window: number }
  | { op: "lookup"; id: number }
  | { op: "settle"; pick: number; acked: boolean; attempt: number }
  | { op: "settledAt"; back: number }
  | { op: "expire" }
  | { op: "tick"; by: number }
  | { op: "reserve"; n: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ op: fc.constant("add" as const), id: fc.nat(40), window: fc.nat(30) }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("lookup" as const), id: fc.nat(40) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("settle" as const),
      pick: fc.nat(),
      acked: fc.boolean(),
      attempt: fc.nat(9),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("settledAt" as const), back: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("expire" as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("tick" as const), by: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("reserve" as const), n: fc.nat(100) }) },
);

// Ids of several lengths and a non-ASCII one, so the arena and the hash see variety.
// Latin-1 ids, and from k = 37 on some beyond it (the arena widens when the first one comes).
const idName = (k: number) =>
  k % 37 === 36 ? `日本-${k}` : k % 7 === 0 ? `é-${k}-${"x".repeat(k % 13)}` : `m${k}`;

Deno.test("IdTable answers like a Map of records under random adds, settles and expiry", () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 400 }), (ops) => {
      const t = new IdTable();
      const m = new ModelTable();
      const nos: number[] = [];
      let now = 0, seq = 0;
      for (const o of ops) {
        switch (o.op) {
          case "add": {
            const id = idName(o.id);
            seq++;
            const a = t.add(id, seq, now + o.window);
            const b = m.add(id, seq, now + o.window);
            assert.equal(a, b);
            nos.push(a);
            break;
          }
          case "lookup": {
            const id = idName(o.id);
            const a = t.lookup(id, now), b = m.lookup(id, now);
            assert.deepEqual(
              a && [a.no, a.seq, a.state, a.attempt, a.expiresAt],
              b && [b.no, b.seq, ID_STATES[b.state], b.attempt, b.exp],
            );
            break;
          }
          case "settle": {
            if (nos.length === 0) break;
            const no = nos[o.pick % nos.length];
            assert.equal(t.isCurrent(no), m.isCurrent(no));
            t.settle(no, o.acked ? "acked" : "dead", o.attempt);
            m.settle(no, o.acked ? 1 : 2, o.attempt);
            break;
          }
          case "settledAt": {
            const s = Math.max(0, seq - o.back);
            const a = t.settledAt(s, now), b = m.settledAt(s, now);
            assert.deepEqual(
              a && [a.no, a.state, a.attempt],
              b && [b.no, ID_STATES[b.state], b.attempt],
            );
            break;
          }
          case "expire":
            t.expire(now);
            m.expire(now);
            break;
          case "reserve":
            t.reserve(o.n);
            break;
          case "tick":
            now += o.by;
        }
        assert.equal(t.size, m.byId.size);
      }
      const rows = [...t.rows()].map((r) => [r.id, r.seq, r.expiresAt, r.state, r.attempt]);
      const want = [...m.byId].map(([id, r]) => [id, r.seq, r.exp, r.state, r.attempt]);
      assert.deepEqual(rows, want);
      // A table restored from those rows answers the same.
      const u = new IdTable();
      for (const r of t.rows()) u.restore(r);
      for (let k = 0; k <= 40; k++) {
        assert.deepEqual(u.lookup(idName(k), now)?.seq, t.lookup(idName(k), now)?.seq);
      }
    }),
    { numRuns: 300 },
  );
});

Deno.test("IdTable keeps 100,000 ids through growth, expiry from the front and reuse of slots", () => {
  const t = new IdTable();
  const nos: number[] = [];
  for (let i = 0; i < 100_000; i++) nos.push(t.add(`id-${i}`, i + 1, i));
  t.expire(49_999); // forgets ids 0..49,999
  assert.equal(t.size, 50_000);
  assert.equal(t.lookup("id-49999", 0), undefined);
  assert.equal(t.lookup("id-50000", 0)?.seq, 50_001);
  for (let i = 100_000; i < 200_000; i++) nos.push(t.add(`id-${i}`, i + 1, i));
  assert.equal(t.size, 150_000);
  t.settle(nos[150_000], "acked", 3);
  assert.deepEqual(t.settledAt(150_001, 0), {
    no: nos[150_000],
    seq: 150_001,
    state: "acked",
    attempt: 3,
    expiresAt: 150_000,
  });
  assert.equal(t.isCurrent(nos[10]), false);
  assert.equal(t.lookup("id-199999", 0)?.no, nos[199_999]);
  t.expire(1e9);
  assert.equal(t.size, 0);
  assert.equal(t.add("again", 1, 5), nos[199_999] + 1);
  assert.equal(t.lookup("again", 0)?.seq, 1);
});

Deno.test("IdTable keeps Latin-1 ids in a byte each, and every id once one is not Latin-1", () => {
  const t = new IdTable();
  const ids = Array.from({ length: 3000 }, (_, i) => i === 2000 ? `ü-日本-${i}` : `ÿé-${i}`);
  for (let i = 0; i < 2000; i++) t.add(ids[i], i + 1, 1e9);
  for (let i = 0; i < 2000; i++) assert.equal(t.lookup(ids[i], 0)?.seq, i + 1);
  // A wide id that a byte arena would cut to a Latin-1 one must not match it.
  assert.equal(t.lookup("\u0100é-5", 0), undefined);
  for (let i = 2000; i < 3000; i++) t.add(ids[i], i + 1, 1e9);
  for (let i = 0; i < 3000; i++) assert.equal(t.lookup(ids[i], 0)?.seq, i + 1, ids[i]);
  const seen: string[] = [];
  const steps = t.capture();
  let r = steps.next();
  while (!r.done) r = steps.next();
  for (const b of r.value.blocks) {
    for (let i = 0; i < b.seq.length; i++) if (isCurrentSlot(b, i)) seen.push(idOfSlot(b, i));
  }
  assert.deepEqual(seen, ids);
});

/** The current records of a capture, as rows (what a snapshot writes). */
function capturedRows(t: IdTable) {
  const steps = t.capture();
  let r = steps.next();
  while (!r.done) r = steps.next();
  const rows: [string, number, number, number, number][] = [];
  for (const b of r.value.blocks) {
    for (let i = 0; i < b.seq.length; i++) {
      if (!isCurrentSlot(b, i)) continue;
      rows.push([idOfSlot(b, i), b.seq[i], b.expiresAt[i], b.state[i], b.attempt[i]]);
    }
  }
  return rows;
}

type GrowOp =
  | { op: "add"; id: number; window: number }
  | { op: "lookup"; id: number }
  | { op: "settle"; pick: number; acked: boolean }
  | { op: "expire" }
  | { op: "tick"; by: number };

const growOpArb: fc.Arbitrary<GrowOp> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant("add" as const),
      id: fc.nat(1500),
      window: fc.nat(400),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("lookup" as const), id: fc.nat(1500) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("settle" as const),
      pick: fc.nat(),
      acked: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("expire" as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("tick" as const), by: fc.nat(3) }) },
);

Deno.test("IdTable answers like a Map while its index grows in steps, and restores mid-growth", () => {
  fc.assert(
    fc.property(fc.array(growOpArb, { minLength: 500, maxLength: 2500 }), (ops) => {
      const t = new IdTable();
      const m = new ModelTable();
      const nos: number[] = [];
      let now = 0, seq = 0, restoredAt = 0;
      for (const o of ops) {
        if (o.op === "add") {
          const id = idName(o.id);
          seq++;
          const a = t.add(id, seq, now + o.window);
          assert.equal(a, m.add(id, seq, now + o.window));
          nos.push(a);
        } else if (o.op === "lookup") {
          const a = t.lookup(idName(o.id), now), b = m.lookup(idName(o.id), now);
          assert.deepEqual(a && [a.no, a.seq, a.state], b && [b.no, b.seq, ID_STATES[b.state]]);
        } else if (o.op === "settle" && nos.length > 0) {
          const no = nos[o.pick % nos.length];
          assert.equal(t.isCurrent(no), m.isCurrent(no));
          t.settle(no, o.acked ? "acked" : "dead", 1);
          m.settle(no, o.acked ? 1 : 2, 1);
        } else if (o.op === "expire") {
          t.expire(now);
          m.expire(now);
        } else if (o.op === "tick") now += o.by;
        assert.equal(t.size, m.byId.size);
        // The index starts growing when the ids pass half of it (a power of two from 32 on) and
        // moves 8 of its old positions per add: two adds after passing one, it is mid-way.
        const s = t.size;
        if (s >= 18 && (s - 2 & (s - 3)) === 0 && s !== restoredAt) {
          restoredAt = s;
          const rows = capturedRows(t);
          const u = new IdTable();
          u.reserve(rows.length);
          for (const r of rows) u.restoreFields(...r);
          assert.deepEqual(capturedRows(u), rows);
          for (let k = 0; k <= 1500; k += 7) {
            const a = u.lookup(idName(k), now), b = m.lookup(idName(k), now);
            assert.deepEqual(a && [a.seq, a.state], b && [b.seq, ID_STATES[b.state]]);
          }
        }
      }
      for (let k = 0; k <= 1500; k++) {
        const a = t.lookup(idName(k), now), b = m.lookup(idName(k), now);
        assert.deepEqual(a && [a.no, a.seq, a.state], b && [b.no, b.seq, ID_STATES[b.state]]);
      }
      const want = [...m.byId].map(([id, r]) => [id, r.seq, r.exp, r.state, r.attempt]);
      assert.deepEqual(capturedRows(t), want);
    }),
    { numRuns: 60 },
  );
});
