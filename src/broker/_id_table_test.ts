import assert from "node:assert/strict";
import fc from "fast-check";
import { charRoom } from "./_id_arena.ts";
import { BLOCK_ROWS, IdBlock } from "./_id_slots.ts";
import {
  ID_STATES,
  type IdCapture,
  idOfSlot,
  IdTable,
  isCurrentSlot,
  wasCurrent,
} from "./_id_table.ts";

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
  for (const b of t.capture().blocks) {
    for (let i = 0; i < b.seq.length; i++) if (isCurrentSlot(b, i)) seen.push(idOfSlot(b, i));
  }
  assert.deepEqual(seen, ids);
});

/** The current records of a capture, as rows (what a snapshot writes). */
function capturedRows(t: IdTable) {
  const rows: [string, number, number, number, number][] = [];
  for (const b of t.capture().blocks) {
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
          // As a snapshot restore does it: appended, then indexed at once (`endRestore`).
          const v = new IdTable();
          v.reserve(rows.length);
          v.beginRestore();
          for (const r of rows) v.restoreFields(...r);
          v.endRestore();
          for (const x of [u, v]) {
            assert.deepEqual(capturedRows(x), rows);
            for (let k = 0; k <= 1500; k += 7) {
              const a = x.lookup(idName(k), now), b = m.lookup(idName(k), now);
              assert.deepEqual(a && [a.seq, a.state], b && [b.seq, ID_STATES[b.state]]);
            }
          }
          // Every restored id is found, and adding one again replaces its record.
          for (const r of rows) assert.ok(v.holds(v.currentNo(r[0]), r[0]));
          const again = rows[rows.length >> 1][0];
          v.add(again, 1e9, Infinity);
          assert.equal(v.size, rows.length);
          assert.equal(v.lookup(again, now)?.seq, 1e9);
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

/** Every field of every slot of a capture, read now (to compare with a later reading). */
function readIdCapture(c: IdCapture): unknown[] {
  const out: unknown[] = [c.count, c.firstNo];
  for (const b of c.blocks) {
    for (let i = 0; i < b.seq.length; i++) {
      out.push([idOfSlot(b, i), b.seq[i], b.expiresAt[i], b.state[i], b.attempt[i]]);
    }
  }
  return out;
}

type CowOp =
  | { op: "add"; id: number; window: number; n: number }
  | { op: "settle"; pick: number; acked: boolean }
  | { op: "expire" }
  | { op: "tick"; by: number }
  | { op: "capture" }
  | { op: "release" };

const cowOpArb: fc.Arbitrary<CowOp> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("add" as const),
      id: fc.nat(60_000),
      window: fc.nat(400),
      n: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 2 * BLOCK_ROWS })),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("settle" as const),
      pick: fc.nat(),
      acked: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("expire" as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("tick" as const), by: fc.nat(100) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("capture" as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("release" as const) }) },
);

Deno.test("IdTable captures across blocks keep what they captured while the table goes on", () => {
  fc.assert(
    fc.property(fc.array(cowOpArb, { maxLength: 40 }), fc.boolean(), (ops, renumber) => {
      // Slot numbers start again every few blocks (`renumberAt`) in half the runs.
      const t = new IdTable(renumber ? { renumberAt: 2 * BLOCK_ROWS } : {});
      const m = new ModelTable();
      const nos: number[] = [];
      const held: { c: IdCapture; then: unknown[] }[] = [];
      let now = 0, seq = 0;
      for (const o of ops) {
        if (o.op === "add") {
          for (let k = 0; k < o.n; k++) {
            const id = idName((o.id + k * 7) % 60_000);
            seq++;
            const a = t.add(id, seq, now + o.window);
            assert.equal(a, m.add(id, seq, now + o.window));
            if (k % 97 === 0) nos.push(a);
          }
        } else if (o.op === "settle" && nos.length > 0) {
          const no = nos[o.pick % nos.length];
          assert.equal(t.isCurrent(no), m.isCurrent(no));
          t.settle(no, o.acked ? "acked" : "dead", 2);
          m.settle(no, o.acked ? 1 : 2, 2);
        } else if (o.op === "expire") {
          t.expire(now);
          m.expire(now);
        } else if (o.op === "tick") now += o.by;
        else if (o.op === "capture") {
          const c = t.capture();
          held.push({ c, then: readIdCapture(c) });
          // What a snapshot writes for a message's record: whether it was current then.
          for (const no of nos.slice(-50)) assert.equal(wasCurrent(c, no), t.isCurrent(no));
        } else if (o.op === "release") {
          const h = held.shift();
          if (h === undefined) continue;
          assert.deepEqual(readIdCapture(h.c), h.then);
          for (const b of h.c.blocks) b.release();
        }
        assert.equal(t.size, m.byId.size);
      }
      // A settle, an id added again (its old record deleted), expiry: none shows in a capture.
      for (const h of held) assert.deepEqual(readIdCapture(h.c), h.then);
      for (let k = 0; k < 60_000; k += 13) {
        const a = t.lookup(idName(k), now), b = m.lookup(idName(k), now);
        assert.deepEqual(a && [a.no, a.seq, a.state], b && [b.no, b.seq, ID_STATES[b.state]]);
      }
      const want = [...m.byId].map(([id, r]) => [id, r.seq, r.exp, r.state, r.attempt]);
      assert.deepEqual(capturedRows(t), want);
    }),
    { numRuns: 25 },
  );
});

Deno.test("IdTable drops the blocks its front passed and numbers slots from 0 again", () => {
  const t = new IdTable({ renumberAt: 2 * BLOCK_ROWS });
  // A window over a block long: the table never fits one block, and never empties.
  const n = 10 * BLOCK_ROWS, window = BLOCK_ROWS + 3000;
  const nos: number[] = [];
  for (let i = 0; i < n; i++) {
    nos.push(t.add(`id-${i}`, i + 1, i + window));
    if (i % 100 === 0) t.expire(i);
    if (i % 5000 === 0) t.settle(nos[i], "acked", 1);
  }
  // Only the last window's records are held: two or three blocks, never the ten written.
  assert.ok(t.blockCount <= 3, `${t.blockCount} blocks`);
  // The last expiry ran at `last`: the ids added after `last - window` are still remembered.
  const last = n - 1 - ((n - 1) % 100);
  assert.equal(t.size, n - 1 - last + window);
  for (let i = n - 1; i > last - window; i--) assert.equal(t.lookup(`id-${i}`, last)?.no, nos[i]);
  assert.equal(t.lookup(`id-${last - window - 200}`, 0), undefined);
  assert.equal(t.isCurrent(nos[n - 1]), true);
  assert.equal(t.isCurrent(nos[0]), false);
  t.settle(nos[n - 10], "dead", 4);
  assert.equal(t.settledAt(n - 9, n)?.state, "dead");
  // An id added again deletes its earlier record, wherever its slot was numbered.
  assert.equal(t.add(`id-${n - 5}`, n + 1, 1e9), nos[n - 1] + 1);
  assert.equal(t.isCurrent(nos[n - 5]), false);
});

Deno.test("a new id block starts with the id room its full predecessor used, and ids stay exact", () => {
  const t = new IdTable();
  // 30-character ids, as the peers' B100 sends: three blocks' worth.
  const id = (i: number) => `12345-1796645777176-r1-m${String(i).padStart(6, "0")}`.slice(-30);
  const n = 3 * BLOCK_ROWS;
  for (let i = 0; i < n; i++) t.add(id(i), i + 1, 1e12);
  for (let i = 0; i < n; i += 997) assert.equal(t.lookup(id(i), 0)?.seq, i + 1);
  const full = new IdBlock(BLOCK_ROWS, 16);
  for (let j = 0; j < BLOCK_ROWS; j++) full.push(id(j), 0, j, 0, 0, 0);
  const next = full.next(BLOCK_ROWS);
  assert.ok(next.chars.length >= 30 * BLOCK_ROWS, `room ${next.chars.length}`);
  assert.ok(next.chars.length <= 34 * BLOCK_ROWS, `room ${next.chars.length}`);
  // A block that is not a whole one (a small table's only block) says nothing about the next.
  assert.equal(new IdBlock(64).next(BLOCK_ROWS).chars.length, 8 * BLOCK_ROWS);
  assert.equal(charRoom(undefined, 16, 8), 128);
});
