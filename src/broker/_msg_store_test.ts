import assert from "node:assert/strict";
import fc from "fast-check";
import { BLOCK_ROWS } from "./_msg_blocks.ts";
import {
  isLiveSlot,
  type Msg,
  type MsgColumns,
  msgIdOf,
  MsgState,
  MsgStore,
  type NewMsg,
} from "./_msg_store.ts";

const slab = new Uint8Array(64).map((_, i) => i);

function newMsg(seq: number, k: number): NewMsg {
  const extras = k % 5 === 0
    ? { headers: { h: String(k) }, group: `g${k % 3}`, subject: k % 2 ? "a.b" : undefined }
    : { headers: undefined, group: undefined, subject: undefined };
  return {
    seq,
    // Latin-1 ids, and some beyond it (a block's id arena widens when the first one comes).
    id: k % 11 === 10 ? `é日-${k}` : k % 13 === 12 ? `é-${k}` : `id-${k}`,
    rec: k % 4 === 0 ? undefined : k * 10,
    buf: slab,
    off: k % 32,
    len: k % 17,
    publishedAt: k * 3,
    expiresAt: k % 6 === 0 ? Infinity : k * 7,
    state: (k % 3) as MsgState,
    attempt: k % 4,
    at: k * 2,
    ...extras,
  };
}

/** Every field of a message, for comparing the store with the model. */
function fields(m: Msg | NewMsg) {
  return [
    m.seq,
    m.id,
    m.rec,
    m.buf === slab,
    m.off,
    m.len,
    m.headers,
    m.group,
    m.subject,
    m.publishedAt,
    m.expiresAt,
    m.state,
    m.attempt,
    m.at,
  ];
}

/** The live seqs of a capture of `s`. */
function capturedSeqs(s: MsgStore): number[] {
  const steps = s.capture();
  let r = steps.next();
  while (!r.done) r = steps.next();
  const seqs: number[] = [];
  for (const c of r.value) {
    for (let i = 0; i < c.seq.length; i++) if (isLiveSlot(c, i)) seqs.push(c.seq[i]);
  }
  return seqs;
}

type Op =
  | { op: "append"; gap: number }
  | { op: "delete"; pick: number }
  | { op: "mutate"; pick: number; state: number; attempt: number; at: number }
  | { op: "holdThenAppend"; pick: number; n: number }
  | { op: "from"; pick: number }
  | { op: "reserve"; n: number }
  | { op: "deleteMany"; front: boolean; keepOneIn: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("append" as const),
      gap: fc.oneof(
        fc.constant(1),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 5000 }),
      ),
    }),
  },
  { weight: 5, arbitrary: fc.record({ op: fc.constant("delete" as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("mutate" as const),
      pick: fc.nat(),
      state: fc.nat(2),
      attempt: fc.nat(1000),
      at: fc.nat(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("holdThenAppend" as const),
      pick: fc.nat(),
      n: fc.nat(300),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("from" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("reserve" as const), n: fc.nat(3000) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("deleteMany" as const),
      front: fc.boolean(),
      keepOneIn: fc.integer({ min: 2, max: 50 }),
    }),
  },
);

type Model = Map<number, NewMsg & { state: MsgState; attempt: number; at: number }>;

/** A store and its model, driven op by op. */
class Pair {
  s = new MsgStore();
  model: Model = new Map();
  seq = 0;
  k = 0;

  seqs(): number[] {
    return [...this.model.keys()];
  }

  append(gap: number): void {
    this.seq += gap;
    const m = newMsg(this.seq, this.k++);
    this.s.append(m);
    this.model.set(this.seq, { ...m });
  }

  delete(seq: number): void {
    const view = this.s.get(seq), was = this.model.get(seq);
    this.s.delete(seq);
    this.model.delete(seq);
    // A view of a deleted message still reads it (until an append drops its slot).
    if (view !== undefined) assert.deepEqual(fields(view), fields(was!));
  }

  run(o: Op): void {
    const all = this.seqs();
    const pick = (n: number) => all[n % all.length];
    switch (o.op) {
      case "append":
        // Runs of appends, so the columns grow, shift and squeeze.
        for (let n = 0; n < 200; n++) this.append(o.gap);
        return;
      case "delete":
        return this.delete(
          all.length > 0 && o.pick % 4 !== 0 ? pick(o.pick) : o.pick % (this.seq + 2),
        );
      case "deleteMany": // the front half (a consumer in order) or all but one in `keepOneIn`
        for (
          const q of o.front
            ? all.slice(0, Math.ceil(all.length / 2))
            : all.filter((_, i) => i % o.keepOneIn !== 0)
        ) {
          this.delete(q);
        }
        return;
      case "mutate": {
        if (all.length === 0) return;
        const v = this.s.get(pick(o.pick))!;
        [v.state, v.attempt, v.at] = [o.state as MsgState, o.attempt, o.at];
        Object.assign(this.model.get(v.seq)!, { state: o.state, attempt: o.attempt, at: o.at });
        return;
      }
      case "holdThenAppend": {
        if (all.length === 0) return;
        const v = this.s.get(pick(o.pick))!;
        for (let n = 0; n < o.n; n++) this.append(1);
        // Slots moved under the view: it finds its message again.
        assert.deepEqual(fields(v), fields(this.model.get(v.seq)!));
        v.attempt = 77;
        this.model.get(v.seq)!.attempt = 77;
        return;
      }
      case "reserve":
        return this.s.reserve(o.n);
      case "from": {
        const from = o.pick % (this.seq + 2);
        const want = [...this.model.values()].filter((m) => m.seq >= from).map(fields);
        assert.deepEqual([...this.s.valuesFrom(from)].map(fields), want);
      }
    }
  }

  check(): void {
    const { s, model } = this;
    assert.deepEqual([...s.values()].map(fields), [...model.values()].map(fields));
    const each: unknown[] = [];
    s.forEach((m) => each.push(fields(m)));
    assert.deepEqual(each, [...model.values()].map(fields));
    const first = model.values().next().value;
    assert.deepEqual(s.first() && fields(s.first()!), first && fields(first));
    for (const [q, m] of model) assert.deepEqual(fields(s.get(q)!), fields(m));
    // A capture in blocks holds exactly the live messages, in order.
    assert.deepEqual(capturedSeqs(s), this.seqs());
  }
}

Deno.test("MsgStore holds what a Map by seq holds under random appends, deletes and writes", () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 100 }), (ops) => {
      const p = new Pair();
      for (const o of ops) {
        p.run(o);
        assert.equal(p.s.count, p.model.size);
      }
      p.check();
    }),
    { numRuns: 500 },
  );
});

Deno.test("MsgStore frees the slots of a drained span and starts over", () => {
  const s = new MsgStore();
  for (let q = 1; q <= 100_000; q++) s.append(newMsg(q, q));
  for (let q = 1; q <= 100_000; q++) if (q !== 99_999) s.delete(q);
  assert.equal(s.count, 1);
  assert.equal(s.first()!.seq, 99_999);
  s.append(newMsg(100_001, 1));
  for (let q = 100_002; q <= 200_000; q++) s.append(newMsg(q, q));
  assert.equal(s.get(99_999)!.id, "id-99999");
  assert.equal(s.get(150_000)!.state, MsgState.Ready);
  // The 99,998 deleted slots in front of the straggler were dropped.
  assert.ok(s.spanSlots <= 100_002, `span ${s.spanSlots}`);
});

Deno.test("MsgStore keeps the room reserved before its first message", () => {
  const s = new MsgStore();
  s.reserve(100_000);
  s.append(newMsg(1, 1));
  assert.ok(s.capacity >= 100_000, `capacity ${s.capacity}`);
  // Drained, it still gives its room back on the next append.
  s.delete(1);
  s.append(newMsg(2, 2));
  assert.ok(s.capacity < 100_000, `capacity ${s.capacity} after draining`);
});

Deno.test("MsgStore forgets the optional fields of deleted messages when their slots go", () => {
  const s = new MsgStore();
  let seq = 0;
  // Every fifth message has extras (newMsg): 2,000 of 10,000.
  for (let k = 0; k < 10_000; k++) s.append(newMsg(++seq, k));
  assert.equal(s.extrasHeld, 2_000);
  // Delete all but the last 100 from the front, then fill the columns: the span moves down.
  for (let q = 1; q <= 9_900; q++) s.delete(q);
  assert.equal(s.extrasHeld, 2_000); // deleted slots are still there
  const capacity = s.capacity;
  for (let k = 0; k <= capacity - 10_000; k++) s.append(newMsg(++seq, k + 1));
  assert.equal(s.capacity, capacity); // moved down, not grown
  assert.equal(s.spanSlots, s.count); // no deleted slot left
  let live = 0;
  s.forEach((m) => {
    if (m.headers !== undefined) live++;
  });
  assert.equal(s.extrasHeld, live);
  // Deleting everything and appending once starts over: nothing of before is held.
  for (const m of [...s.values()]) s.delete(m.seq);
  s.append(newMsg(++seq, 1));
  assert.equal(s.extrasHeld, 0);
});

/** Every field of every slot of a capture, read now (to compare with a later reading). */
function readCapture(cols: readonly MsgColumns[]): unknown[] {
  const out: unknown[] = [];
  for (const c of cols) {
    for (let i = 0; i < c.seq.length; i++) {
      out.push([
        c.seq[i],
        c.state[i],
        c.attempt[i],
        c.at[i],
        c.publishedAt[i],
        c.expiresAt[i],
        c.off[i],
        c.len[i],
        c.rec[i],
        c.bufs[c.base + i] === slab,
        msgIdOf(c, i),
        c.extras?.[i],
      ]);
    }
  }
  return out;
}

function captureOf(s: MsgStore): MsgColumns[] {
  const steps = s.capture();
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}

type CowOp = Op | { op: "appendMany"; n: number } | { op: "capture" } | { op: "release" };

const cowOpArb: fc.Arbitrary<CowOp> = fc.oneof(
  { weight: 6, arbitrary: opArb },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("appendMany" as const),
      n: fc.integer({ min: 1, max: 3 * BLOCK_ROWS }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("capture" as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("release" as const) }) },
);

Deno.test("MsgStore captures across blocks keep what they captured while the store goes on", () => {
  fc.assert(
    fc.property(fc.array(cowOpArb, { maxLength: 40 }), (ops) => {
      const p = new Pair();
      const held: { cols: MsgColumns[]; then: unknown[] }[] = [];
      for (const o of ops) {
        if (o.op === "appendMany") { for (let n = 0; n < o.n; n++) p.append(1); }
        else if (o.op === "capture") {
          const cols = captureOf(p.s);
          held.push({ cols, then: readCapture(cols) });
        } else if (o.op === "release") {
          const h = held.shift();
          if (h === undefined) continue;
          assert.deepEqual(readCapture(h.cols), h.then);
          for (const c of h.cols) c.release();
        } else p.run(o);
        assert.equal(p.s.count, p.model.size);
      }
      // A write after a capture (a delete, a state, attempt or time, a squeeze) never shows in it.
      for (const h of held) assert.deepEqual(readCapture(h.cols), h.then);
      p.check();
    }),
    { numRuns: 40 },
  );
});

Deno.test("MsgStore grows by whole blocks and drops the blocks its front passed", () => {
  const s = new MsgStore();
  for (let q = 1; q <= 5 * BLOCK_ROWS; q++) s.append(newMsg(q, q));
  assert.equal(s.blockCount, 5);
  assert.equal(s.capacity, 5 * BLOCK_ROWS);
  // A consumer in order: the blocks behind it go at the next append (a view of a message just
  // deleted still reads it until then).
  const view = s.get(3 * BLOCK_ROWS + 5)!;
  for (let q = 1; q <= 3 * BLOCK_ROWS + 5; q++) s.delete(q);
  assert.equal(view.id, `id-${3 * BLOCK_ROWS + 5}`);
  assert.equal(s.blockCount, 5);
  s.append(newMsg(5 * BLOCK_ROWS + 1, 1));
  assert.equal(s.blockCount, 3);
  assert.throws(() => view.id, /outlived its message/);
  assert.equal(s.first()!.seq, 3 * BLOCK_ROWS + 6);
  assert.equal(s.get(4 * BLOCK_ROWS)!.id, `id-${4 * BLOCK_ROWS}`);
  // The only block left, its span a quarter of it, moves down into a block half its size.
  for (let q = 3 * BLOCK_ROWS + 6; q <= 5 * BLOCK_ROWS; q++) s.delete(q);
  s.append(newMsg(5 * BLOCK_ROWS + 2, 2));
  assert.equal(s.blockCount, 1);
  // Full, its span a quarter of it: it moves down into a block half its size.
  for (let q = 5 * BLOCK_ROWS + 3; q <= 6 * BLOCK_ROWS; q++) s.append(newMsg(q, q));
  for (let q = 5 * BLOCK_ROWS + 1; q <= 6 * BLOCK_ROWS - BLOCK_ROWS / 4; q++) s.delete(q);
  s.append(newMsg(6 * BLOCK_ROWS + 1, 1));
  assert.equal(s.blockCount, 1);
  assert.equal(s.capacity, BLOCK_ROWS / 2);
  assert.equal(s.count, BLOCK_ROWS / 4 + 1);
  assert.equal(s.get(6 * BLOCK_ROWS)!.id, `id-${6 * BLOCK_ROWS}`);
});
