import assert from "node:assert/strict";
import fc from "fast-check";
import type { Command, Envelope, Result } from "./commands.ts";
import { decodeEnvelope, encodeEnvelope } from "./commands.ts";
import { BrokerState } from "./state.ts";
import {
  captureSnapshot,
  captureSteps,
  restoreSnapshot,
  restoreSteps,
  SNAPSHOT_VERSION,
  snapshotBytes,
} from "./snapshot.ts";
import { BODY_BYTES_PER_PART, concatParts, MSGS_PER_PART } from "./_snapshot_format.ts";
import { body, Log, text } from "./_testing.ts";
import { buildLargeLog } from "./_testing_snapshot_state.ts";

/** JSON with bytes as number arrays (restored bodies may come back as Buffer). */
function canon(v: unknown): string {
  return JSON.stringify(v, function (this: Record<string, unknown>, k, x) {
    const raw = this[k];
    return raw instanceof Uint8Array ? Array.from(raw) : x;
  });
}

Deno.test("encodeEnvelope and decodeEnvelope round-trip bytes, ts and idem", () => {
  const env = {
    ts: 123,
    cmd: { op: "publish", queue: "q", message: { body: body('{"a":1}'), id: "i" } },
    idem: { key: "k", fingerprint: "f" },
  } as const;
  const back = decodeEnvelope(encodeEnvelope(env));
  assert.equal(canon(back), canon(env));
  assert.throws(() => decodeEnvelope(new Uint8Array([9, 1, 2])), /unknown version/);
});

Deno.test("captureSnapshot and restoreSnapshot round-trip the state", () => {
  const l = new Log();
  l.queue("q");
  l.publish("q", { id: "a" });
  const bytes = captureSnapshot(l.broker).serialize();
  const expected = new Uint8Array(bytes); // unpack tags its input with a dataView property
  assert.deepEqual(new Uint8Array(snapshotBytes(restoreSnapshot(bytes))), expected);
});

Deno.test("captureSnapshot is not changed by applies after it", () => {
  const l = new Log();
  l.queue("q");
  l.publish("q", { id: "a", text: "before" });
  const view = captureSnapshot(l.broker);
  const expected = snapshotBytes(l.broker);
  l.receive("q");
  l.publish("q", { id: "b", text: "after" });
  assert.deepEqual(view.serialize(), expected);
});

Deno.test("restoreSnapshot rebuilds leases, delays, fifo groups, topics and ids", () => {
  const l = new Log();
  l.queue("dlq");
  l.queue("q", { fifo: true, leaseMs: 100, maxDeliveries: 2, deadLetterQueue: "dlq" });
  l.publish("q", { id: "a", group: "g", text: "a" });
  l.publish("q", { id: "b", group: "g", text: "b" });
  l.publish("q", { group: "h", text: "c", delayMs: 50 });
  l.apply({ op: "topic_put", topic: "t", options: { maxMessages: 5 } });
  l.apply({ op: "subscription_put", topic: "t", subscription: "s", options: {} });
  l.apply({ op: "topic_publish", topic: "t", message: { body: body("tm"), id: "x" } });
  const [d] = l.receive("q");
  const restored = new Log(restoreSnapshot(snapshotBytes(l.broker)));
  restored.index = l.index;
  restored.now = l.now;
  assert.deepEqual(snapshotBytes(restored.broker), snapshotBytes(l.broker));
  for (const log of [l, restored]) {
    assert.equal(log.ack("q", d.receipt), "acked");
    log.now += 50;
    assert.deepEqual(log.receive("q").map(text), ["b", "c"]);
    const s = log.apply({ op: "subscription_receive", topic: "t", subscription: "s", max: 5 });
    assert.ok(s.ok && text(s.messages[0]) === "tm");
  }
  assert.deepEqual(snapshotBytes(restored.broker), snapshotBytes(l.broker));
});

// ---- property: snapshot + restore at random points changes nothing ----

const QUEUES = ["q1", "q2", "dlq"];
const IDS = ["a", "b", "c", "d", "e", "f"];
/** Subjects of topic publishes, and the routing a subscription may be changed to. */
const SUBJECTS = ["o.eu.new", "o.us.new", "o.eu.paid", "p.x"];
const ROUTES: Record<string, unknown>[] = [
  {},
  { filter: "o.*.new" },
  { filters: ["o.>", "p.x"] },
  { filter: "o.eu.*", headers: { h: "1" } },
  { headers: { h: { exists: false } } },
];
/** The subscriptions' options at creation; a route change keeps them (fifo cannot change). */
const SUB_OPTIONS: Record<string, unknown>[] = [
  { leaseMs: 800 },
  { fifo: true, maxDeliveries: 2, deadLetterQueue: "dlq", startAt: "earliest" },
  { leaseMs: 500, filter: "o.eu.>" },
];

type Action =
  | { k: "advance"; ms: number }
  | { k: "publish"; q: number; id: number; group: number; delayMs: number; ttlMs: number }
  | { k: "receive"; q: number; max: number; leaseMs: number }
  | { k: "settle"; op: "ack" | "nack" | "extend"; r: number; ms: number }
  | { k: "tpublish"; id: number; subject: number; h: number }
  | { k: "route"; s: number; f: number }
  | { k: "sreceive"; s: number; max: number }
  | { k: "sack"; r: number }
  | { k: "tx"; r: number; q: number; id: number }
  | { k: "idem"; key: number; inner: number }
  | { k: "session"; s: number; seq: number; lowest: number; inner: number; r: number }
  | { k: "keepalive"; s: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ k: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 3000 }) }),
  fc.record({
    k: fc.constant("publish" as const),
    q: fc.nat(2),
    id: fc.integer({ min: -1, max: IDS.length - 1 }),
    group: fc.integer({ min: -1, max: 2 }),
    delayMs: fc.constantFrom(0, 0, 500),
    ttlMs: fc.constantFrom(0, 0, 4000),
  }),
  fc.record({
    k: fc.constant("receive" as const),
    q: fc.nat(2),
    max: fc.integer({ min: 1, max: 4 }),
    leaseMs: fc.constantFrom(0, 700, 2000),
  }),
  fc.record({
    k: fc.constant("settle" as const),
    op: fc.constantFrom("ack" as const, "nack" as const, "extend" as const),
    r: fc.nat(50),
    ms: fc.constantFrom(0, 300, 1500),
  }),
  fc.record({
    k: fc.constant("tpublish" as const),
    id: fc.integer({ min: -1, max: 5 }),
    subject: fc.integer({ min: -1, max: SUBJECTS.length - 1 }),
    h: fc.nat(2),
  }),
  fc.record({
    k: fc.constant("route" as const),
    s: fc.nat(SUB_OPTIONS.length - 1),
    f: fc.nat(ROUTES.length - 1),
  }),
  fc.record({
    k: fc.constant("sreceive" as const),
    s: fc.nat(SUB_OPTIONS.length - 1),
    max: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({ k: fc.constant("sack" as const), r: fc.nat(50) }),
  fc.record({ k: fc.constant("tx" as const), r: fc.nat(50), q: fc.nat(2), id: fc.nat(5) }),
  fc.record({ k: fc.constant("idem" as const), key: fc.nat(3), inner: fc.nat(2) }),
  fc.record({
    k: fc.constant("session" as const),
    s: fc.nat(2),
    seq: fc.integer({ min: 1, max: 8 }),
    lowest: fc.nat(8),
    inner: fc.nat(3),
    r: fc.nat(50),
  }),
  fc.record({ k: fc.constant("keepalive" as const), s: fc.nat(2) }),
);

const SETUP: Command[] = [
  { op: "queue_put", queue: "dlq", options: { maxMessages: 30 } },
  {
    op: "queue_put",
    queue: "q1",
    options: { leaseMs: 1000, maxDeliveries: 3, deadLetterQueue: "dlq", dedupWindowMs: 5000 },
  },
  {
    op: "queue_put",
    queue: "q2",
    options: { fifo: true, deliveryMode: "exactly_once", maxDeliveries: 2, deadLetterQueue: "dlq" },
  },
  { op: "topic_put", topic: "t", options: { maxMessages: 6, maxAgeMs: 8000, dedupWindowMs: 3000 } },
  ...SUB_OPTIONS.map((options, s): Command => ({
    op: "subscription_put",
    topic: "t",
    subscription: `s${s}`,
    options,
  })),
  // Three sessions (their ids are their entries' indexes, SESSION_IDS); one expires soon.
  { op: "session_open", timeoutMs: 5000 },
  { op: "session_open" },
  { op: "session_open", timeoutMs: 60_000 },
];
/** A session's id is the (1-based) index of the entry that opened it. */
const SESSION_IDS = SETUP.flatMap((c, i) => c.op === "session_open" ? [i + 1] : []);

/** Runs the actions; at each index in `cuts`, replaces the state by a restored snapshot. */
function run(
  actions: Action[],
  cuts: Set<number>,
): { results: string[]; state: Uint8Array } {
  let broker = new BrokerState({ idemKeysMax: 3, sessionBytesMax: 2000 });
  let index = 0;
  let now = 1_000;
  const results: string[] = [];
  const receipts: { target: { queue: string } | { sub: string }; receipt: string }[] = [];
  const apply = (cmd: Command, extra: Omit<Envelope, "ts" | "cmd"> = {}): Result => {
    index++;
    const r = broker.apply(index, { ts: now, cmd, ...extra });
    if (r.ok && "messages" in r) {
      for (const m of r.messages) {
        const target = cmd.op === "receive" ? { queue: cmd.queue } : {
          sub: (cmd as { subscription: string }).subscription,
        };
        receipts.push({ target, receipt: m.receipt });
      }
    }
    results.push(canon(r));
    return r;
  };
  const toCommand = (a: Action): Command => {
    const pick = (r: number) => receipts.length === 0 ? undefined : receipts[r % receipts.length];
    switch (a.k) {
      case "advance":
        now += a.ms;
        return { op: "tick" };
      case "publish": {
        const message = {
          body: body(`m${index}`),
          ...(a.id >= 0 ? { id: IDS[a.id] } : {}),
          ...(a.group >= 0 ? { group: `g${a.group}` } : {}),
          ...(a.delayMs ? { delayMs: a.delayMs } : {}),
          ...(a.ttlMs ? { ttlMs: a.ttlMs } : {}),
        };
        return { op: "publish", queue: QUEUES[a.q], message };
      }
      case "receive":
        return a.leaseMs
          ? { op: "receive", queue: QUEUES[a.q], max: a.max, leaseMs: a.leaseMs }
          : { op: "receive", queue: QUEUES[a.q], max: a.max };
      case "settle": {
        const p = pick(a.r);
        if (p === undefined || !("queue" in p.target)) return { op: "tick" };
        const base = { queue: p.target.queue, receipts: [p.receipt] };
        if (a.op === "ack") return { op: "ack", ...base };
        if (a.op === "nack") return { op: "nack", ...base, delayMs: a.ms };
        return { op: "extend", ...base, leaseMs: a.ms || 100 };
      }
      case "tpublish": {
        const message = {
          ...(a.id >= 0 ? { body: body(`t${index}`), id: IDS[a.id] } : { body: body("t") }),
          ...(a.subject >= 0 ? { subject: SUBJECTS[a.subject] } : {}),
          ...(a.h > 0 ? { headers: { h: String(a.h) } } : {}),
        };
        return { op: "topic_publish", topic: "t", message };
      }
      case "route": {
        const { filter: _f, ...options } = SUB_OPTIONS[a.s];
        return {
          op: "subscription_put",
          topic: "t",
          subscription: `s${a.s}`,
          options: { ...options, ...ROUTES[a.f] },
        };
      }
      case "sreceive":
        return { op: "subscription_receive", topic: "t", subscription: `s${a.s}`, max: a.max };
      case "sack": {
        const p = pick(a.r);
        if (p === undefined || !("sub" in p.target)) return { op: "tick" };
        return {
          op: "subscription_ack",
          topic: "t",
          subscription: p.target.sub,
          receipts: [p.receipt],
        };
      }
      case "tx": {
        const p = pick(a.r);
        const ack = p === undefined
          ? []
          : "queue" in p.target
          ? [{ queue: p.target.queue, receipt: p.receipt }]
          : [{ topic: "t", subscription: p.target.sub, receipt: p.receipt }];
        return {
          op: "transaction",
          ack,
          publish: [{ queue: QUEUES[a.q], body: body(`x${index}`), id: IDS[a.id] }],
        };
      }
      case "idem":
      case "session":
        return { op: "tick" };
      case "keepalive":
        return { op: "session_keepalive", session: SESSION_IDS[a.s] };
    }
  };
  SETUP.forEach((c) => apply(c));
  actions.forEach((a, i) => {
    if (cuts.has(i)) {
      const view = captureSnapshot(broker);
      apply({ op: "tick" }); // an apply between capture and serialize must not leak into it
      broker = restoreSnapshot(view.serialize());
      index = view.index;
      results.pop();
    }
    if (a.k === "idem") {
      const inner = toCommand(
        a.inner === 0 ? { k: "receive", q: 0, max: 1, leaseMs: 0 } : {
          k: "publish",
          q: 0,
          id: -1,
          group: -1,
          delayMs: 0,
          ttlMs: 0,
        },
      );
      apply(inner, { idem: { key: `k${a.key}`, fingerprint: `f${a.inner}` } });
    } else if (a.k === "session") {
      const inners: Action[] = [
        { k: "receive", q: 0, max: 2, leaseMs: 0 },
        { k: "publish", q: a.r % 3, id: -1, group: -1, delayMs: 0, ttlMs: 0 },
        { k: "settle", op: "ack", r: a.r, ms: 0 },
        { k: "tx", r: a.r, q: 1, id: a.r % 6 },
      ];
      const session = { id: SESSION_IDS[a.s], seq: a.seq, lowest: Math.min(a.lowest, a.seq) };
      apply(toCommand(inners[a.inner]), { session });
    } else apply(toCommand(a));
  });
  return { results, state: snapshotBytes(broker) };
}

Deno.test("property: snapshot and restore at random points give the same results and state", () => {
  fc.assert(
    fc.property(
      // size "max": fast-check otherwise keeps arrays to about ten items.
      fc.array(action, { minLength: 1, maxLength: 150, size: "max" }),
      fc.array(fc.nat(149), { minLength: 1, maxLength: 4 }),
      (actions, cutList) => {
        const plain = run(actions, new Set());
        const cut = run(actions, new Set(cutList));
        assert.deepEqual(cut.results, plain.results);
        assert.deepEqual(cut.state, plain.state);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("property: the same log applied twice gives identical state (determinism)", () => {
  fc.assert(
    fc.property(fc.array(action, { maxLength: 150, size: "max" }), (actions) => {
      assert.deepEqual(run(actions, new Set()).state, run(actions, new Set()).state);
    }),
    { numRuns: 100 },
  );
});

// ---- format v2: parts, steps, refusals ----

/** A state spanning many parts of every kind: queues (fifo too), a topic, subscriptions. */

Deno.test("parts() of a state spanning many parts restores exactly, step by step", () => {
  const l = buildLargeLog(9_000);
  const view = captureSnapshot(l.broker);
  const parts = [...view.parts()];
  assert.ok(parts.length > 20, `only ${parts.length} parts`);
  const bytes = view.serialize();
  const steps = restoreSteps(bytes);
  let n = 0;
  let r = steps.next();
  for (; !r.done && n < 100_000; r = steps.next()) n++;
  assert.ok(r.done);
  assert.ok(n >= 9, `restored in ${n} steps`);
  const restored = new Log(r.value);
  restored.index = l.index;
  restored.now = l.now;
  assert.deepEqual(snapshotBytes(restored.broker), bytes);
  // The same commands give the same answers: the derived indexes were rebuilt too.
  assert.equal(canon(restored.receive("f", 30)), canon(l.receive("f", 30)));
  assert.equal(l.broker.queues.get("f")!.stats().leased, 13);
  for (const log of [l, restored]) log.advance(600);
  assert.equal(canon(restored.receive("q", 50)), canon(l.receive("q", 50)));
  assert.equal(canon(restored.receive("f", 30)), canon(l.receive("f", 30)));
  const sub = { op: "subscription_receive", topic: "t", subscription: "s", max: 40 } as const;
  assert.equal(canon(restored.apply(sub)), canon(l.apply(sub)));
  assert.equal(
    canon(restored.apply({ op: "tick" }, { key: "key7", fingerprint: "f" })),
    canon(l.apply({ op: "tick" }, { key: "key7", fingerprint: "f" })),
  );
  assert.deepEqual(snapshotBytes(restored.broker), snapshotBytes(l.broker));
});

Deno.test("parts() and restoreSteps() work in bounded steps for 200k messages", () => {
  const b = new BrokerState();
  let index = 0;
  b.apply(++index, { ts: 1, cmd: { op: "queue_put", queue: "q", options: {} } });
  const message = { body: new Uint8Array(256).fill(7) };
  for (let i = 0; i < 200_000; i++) {
    b.apply(++index, { ts: 2, cmd: { op: "publish", queue: "q", message } });
  }
  const parts = [...captureSnapshot(b).parts()];
  // Structural bound on each step's work: a part packs at most MSGS_PER_PART messages or
  // about BODY_BYTES_PER_PART bytes of bodies, so no step grows with the state.
  const largest = Math.max(...parts.map((p) => p.length));
  assert.ok(largest <= BODY_BYTES_PER_PART, `a part of ${largest} bytes`);
  const msgParts = Math.ceil(200_000 / MSGS_PER_PART);
  assert.ok(parts.length >= 4 * msgParts, `only ${parts.length} parts`);
  let steps = 0;
  const it = restoreSteps(concatParts(parts));
  for (let r = it.next(); !r.done && steps < 1_000_000; r = it.next()) steps++;
  assert.ok(steps >= msgParts, `restored in only ${steps} steps`);
});

Deno.test("captureSteps captures in bounded steps exactly what captureSnapshot captures", () => {
  const l = new Log();
  l.queue("q");
  l.apply({ op: "topic_put", topic: "t", options: {} });
  l.apply({ op: "subscription_put", topic: "t", subscription: "s", options: {} });
  const messages = (from: number) =>
    Array.from({ length: 500 }, (_, k) => ({ id: `m${from + k}`, body: body("x") }));
  for (let i = 0; i < 20_000; i += 500) {
    l.apply({ op: "publish_batch", queue: "q", messages: messages(i) });
    l.apply({ op: "topic_publish_batch", topic: "t", messages: messages(i) });
  }
  l.receive("q", 100);
  const expected = snapshotBytes(l.broker);
  const it = captureSteps(l.broker);
  let steps = 0;
  let r = it.next();
  for (; !r.done && steps < 1_000_000; r = it.next()) steps++;
  assert.ok(r.done);
  // The queue's and the subscription's columns and every id table are shared, not copied (a
  // step per block at most); the topic's 20k messages are gathered 4,096 per step.
  assert.ok(steps >= 4, `captured in only ${steps} steps`);
  assert.deepEqual(r.value.serialize(), expected);
});

Deno.test("restoreSnapshot refuses bad magic, unknown versions, truncation and trailing bytes", () => {
  const l = new Log();
  l.queue("q");
  l.publish("q", { id: "a" });
  const bytes = snapshotBytes(l.broker);
  assert.throws(() => restoreSnapshot(new Uint8Array([1, 2, 3])), /not a broker snapshot/);
  const v1 = bytes.slice();
  v1[4] = 1;
  assert.throws(() => restoreSnapshot(v1), /unknown version 1 \(this build reads 2\)/);
  assert.equal(SNAPSHOT_VERSION, 2);
  for (const cut of [6, 12, bytes.length - 1]) {
    assert.throws(() => restoreSnapshot(bytes.subarray(0, cut)), /Cannot restore snapshot/);
  }
  const longer = new Uint8Array(bytes.length + 2);
  longer.set(bytes);
  assert.throws(() => restoreSnapshot(longer), /bytes after its end part/);
});
