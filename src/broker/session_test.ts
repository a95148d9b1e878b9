import assert from "node:assert/strict";
import fc from "fast-check";
import { BrokerState } from "./state.ts";
import { body, Log } from "./_testing.ts";
import { restoreSnapshot, snapshotBytes } from "./snapshot.ts";
import type { Command } from "./commands.ts";
import { answerBytes } from "./_answers.ts";

const publish = (id?: string): Command => ({
  op: "publish",
  queue: "q",
  message: id === undefined ? { body: body("x") } : { body: body("x"), id },
});

Deno.test("a repeated (session, seq) answers the stored answer and applies nothing", () => {
  const l = new Log();
  l.queue("q");
  const id = l.openSession();
  const first = l.send(publish(), { session: { id, seq: 1, lowest: 1 } });
  const again = l.send(publish(), { session: { id, seq: 1, lowest: 1 } });
  assert.ok(first.ok && again.ok);
  assert.equal(again.replayed, true);
  assert.deepEqual({ ...again, replayed: undefined }, { ...first, replayed: undefined });
  assert.equal(l.broker.queue("q")!.stats.published, 1);
});

Deno.test("answers below the client's lowest unanswered seq are dropped and never re-applied", () => {
  const l = new Log();
  l.queue("q");
  const id = l.openSession();
  for (let seq = 1; seq <= 3; seq++) l.send(publish(), { session: { id, seq, lowest: 1 } });
  assert.equal(l.broker.sessions.byId.get(id)!.answers.size, 3);
  l.send(publish(), { session: { id, seq: 4, lowest: 3 } });
  assert.deepEqual([...l.broker.sessions.byId.get(id)!.answers.keys()], [3, 4]);
  const old = l.send(publish(), { session: { id, seq: 1, lowest: 1 } });
  assert.equal(!old.ok && old.reason, "invalid_request");
  assert.equal(l.broker.queue("q")!.stats.published, 4);
});

Deno.test("a write on an unknown, expired, closed or other caller's session is session_expired", () => {
  const l = new Log();
  l.queue("q");
  const cases: [string, () => number, string | undefined][] = [
    ["unknown", () => 999, undefined],
    ["another owner's", () => l.openSession("alice"), "bob"],
    ["closed", () => {
      const id = l.openSession();
      l.apply({ op: "session_close", session: id });
      return id;
    }, undefined],
    ["expired", () => {
      const id = l.openSession(undefined, 1000);
      l.now += 1000;
      return id;
    }, undefined],
  ];
  for (const [what, open, owner] of cases) {
    const id = open();
    const extra = owner === undefined ? {} : { owner };
    const r = l.send(publish(), { session: { id, seq: 1, lowest: 1 }, ...extra });
    assert.equal(!r.ok && r.reason, "session_expired", what);
  }
  assert.equal(l.broker.queue("q")!.stats.published, 0);
});

Deno.test("a session expires by entry time after its inactivity; keep-alive and writes renew it", () => {
  const l = new Log();
  l.queue("q");
  const id = l.openSession(undefined, 10_000);
  l.now += 9_999;
  assert.equal(l.apply({ op: "session_keepalive", session: id }).ok, true);
  l.now += 9_999;
  assert.equal(l.send(publish(), { session: { id, seq: 1, lowest: 1 } }).ok, true);
  l.now += 9_999;
  assert.equal(l.send(publish(), { session: { id, seq: 1, lowest: 1 } }).replayed, true);
  l.now += 10_000;
  const r = l.apply({ op: "session_keepalive", session: id });
  assert.equal(!r.ok && r.reason, "session_expired");
  l.advance(1);
  assert.equal(l.broker.sessions.byId.size, 0);
  assert.equal(l.broker.sessions.bytes, 0);
});

Deno.test("the default session timeout is one hour of entry time", () => {
  const l = new Log();
  const r = l.apply({ op: "session_open" });
  assert.ok(r.ok && r.timeoutMs === 3_600_000);
});

Deno.test("sessions are bounded in count and bytes: beyond, sessions_full and nothing applied", () => {
  const l = new Log(new BrokerState({ sessionsMax: 2, sessionBytesMax: 600 }));
  l.queue("q");
  const a = l.openSession();
  l.openSession();
  const third = l.apply({ op: "session_open" });
  assert.equal(!third.ok && third.reason, "sessions_full");
  let seq = 1;
  for (; seq < 100; seq++) {
    if (!l.send(publish(), { session: { id: a, seq, lowest: 1 } }).ok) break;
  }
  assert.ok(seq > 1 && seq < 100);
  const published = l.broker.queue("q")!.stats.published;
  assert.equal(published, seq - 1);
  // Acknowledging answers frees the session's room.
  assert.equal(l.send(publish(), { session: { id: a, seq, lowest: seq } }).ok, true);
  assert.equal(l.broker.queue("q")!.stats.published, published + 1);
});

Deno.test("acks in a session store one status letter per receipt and replay the same answer", () => {
  const l = new Log();
  l.queue("q");
  l.publish("q", {});
  const [d] = l.receive("q");
  const id = l.openSession();
  const cmd = { op: "ack", queue: "q", receipts: [d.receipt, "1.99.1"] } as const;
  const first = l.send(cmd, { session: { id, seq: 1, lowest: 1 } });
  const again = l.send(cmd, { session: { id, seq: 1, lowest: 1 } });
  assert.ok(first.ok && again.ok && again.replayed);
  assert.deepEqual(again.results, first.results);
  const stored = l.broker.sessions.byId.get(id)!.answers.get(1)!.answer;
  assert.deepEqual(stored, { ok: true, codes: "af" });
});

Deno.test("an extend in a session stores each extended lease's end and replays it", () => {
  const l = new Log();
  l.queue("q");
  l.publish("q", {});
  l.publish("q", {});
  const [d1, d2] = l.receive("q", 2);
  const id = l.openSession();
  const cmd = {
    op: "extend",
    queue: "q",
    receipts: [d1.receipt, "1.99.1", d2.receipt],
    leaseMs: 60_000,
  } as const;
  const first = l.send(cmd, { session: { id, seq: 1, lowest: 1 } });
  l.advance(1_000);
  const again = l.send(cmd, { session: { id, seq: 1, lowest: 1 } });
  assert.ok(first.ok && again.ok && again.replayed);
  assert.deepEqual(again.results, first.results);
  const ends = first.results.flatMap((r) => r.leaseExpiresAt ?? []);
  assert.equal(ends.length, 2);
  const stored = l.broker.sessions.byId.get(id)!.answers.get(1)!.answer;
  assert.deepEqual(stored, { ok: true, codes: "efe", leases: ends });
});

Deno.test("a transaction retried in its session returns the original answer", () => {
  const l = new Log();
  l.queue("q");
  l.queue("out");
  l.publish("q", {});
  const [d] = l.receive("q");
  const id = l.openSession();
  const tx: Command = {
    op: "transaction",
    ack: [{ queue: "q", receipt: d.receipt }],
    publish: [{ queue: "out", body: body("y") }],
  };
  const first = l.send(tx, { session: { id, seq: 1, lowest: 1 } });
  const again = l.send(tx, { session: { id, seq: 1, lowest: 1 } });
  assert.ok(first.ok && again.ok && again.replayed);
  assert.deepEqual({ ...again, replayed: undefined }, { ...first, replayed: undefined });
  assert.equal(l.broker.queue("out")!.stats.published, 1);
});

Deno.test("another command under a used (session, seq) is idempotency_conflict", () => {
  const l = new Log();
  l.queue("q");
  const id = l.openSession();
  l.send(publish(), { session: { id, seq: 1, lowest: 1 } });
  const r = l.send({ op: "tick" }, { session: { id, seq: 1, lowest: 1 } });
  assert.equal(!r.ok && r.reason, "idempotency_conflict");
});

Deno.test("property: sessions survive snapshot and restore; no (session, seq) applies twice", () => {
  // Writes of 3 sessions, each seq sent 1..3 times (interleaved retries), with snapshot and
  // restore at random points: each distinct (session, seq) publishes exactly once.
  const action = fc.oneof(
    fc.record({ k: fc.constant("write" as const), s: fc.nat(2), repeat: fc.nat(2) }),
    fc.record({ k: fc.constant("retry" as const), s: fc.nat(2), back: fc.nat(4) }),
    fc.record({ k: fc.constant("ack" as const), s: fc.nat(2) }),
    fc.record({ k: fc.constant("restore" as const) }),
    fc.record({ k: fc.constant("time" as const), ms: fc.nat(2000) }),
  );
  fc.assert(
    fc.property(fc.array(action, { maxLength: 60 }), (actions) => {
      let l = new Log();
      l.queue("q");
      const ids = [0, 1, 2].map(() => l.openSession(undefined, 1_000_000));
      const next = [1, 1, 1];
      const lowest = [1, 1, 1];
      const applied = new Set<string>();
      let published = 0;
      const send = (s: number, seq: number) => {
        const r = l.send(publish(), { session: { id: ids[s], seq, lowest: lowest[s] } });
        if (r.ok && r.replayed === undefined) {
          const key = `${s}/${seq}`;
          assert.ok(!applied.has(key), `${key} applied twice`);
          applied.add(key);
          published++;
        }
        if (r.ok && r.replayed) assert.ok(applied.has(`${s}/${seq}`));
      };
      for (const a of actions) {
        if (a.k === "write") {
          const seq = next[a.s]++;
          for (let i = 0; i <= a.repeat; i++) send(a.s, seq);
        } else if (a.k === "retry") {
          const seq = Math.max(lowest[a.s], next[a.s] - 1 - a.back);
          if (seq >= 1 && seq < next[a.s]) send(a.s, seq);
        } else if (a.k === "ack") {
          lowest[a.s] = next[a.s];
        } else if (a.k === "restore") {
          const restored = new Log(restoreSnapshot(snapshotBytes(l.broker)));
          restored.index = l.index;
          restored.now = l.now;
          assert.deepEqual(snapshotBytes(restored.broker), snapshotBytes(l.broker));
          l = restored;
        } else {
          l.now += a.ms;
        }
      }
      assert.equal(l.broker.queue("q")!.stats.published, published);
    }),
    { numRuns: 200 },
  );
});

Deno.test("a receive in a session stores by reference exactly the deliveries whose lease it holds", () => {
  for (const mode of ["at_least_once", "exactly_once", "at_most_once"] as const) {
    for (const fifo of [false, true]) {
      const l = new Log();
      l.queue("q", { deliveryMode: mode, fifo });
      for (let i = 0; i < 5; i++) {
        l.apply({
          op: "publish",
          queue: "q",
          message: { body: body(`m${i}`), id: `m${i}`, ...(fifo ? { group: `g${i % 2}` } : {}) },
        });
      }
      const id = l.openSession();
      const r = l.send({ op: "receive", queue: "q", max: 4 }, {
        session: { id, seq: 1, lowest: 1 },
      });
      assert.ok(r.ok && "messages" in r && r.messages.length > 0, `${mode} fifo ${fifo}`);
      const q = l.broker.queues.get("q")!;
      const stored = l.broker.sessions.byId.get(id)!.answers.get(1)!.answer as unknown as {
        held: number[];
        whole: unknown[];
      };
      const held: number[] = [];
      const whole: unknown[] = [];
      for (const d of r.messages) {
        if (q.heldDelivery(d.seq, d.attempt) !== undefined) held.push(q.ord, d.seq, d.attempt);
        else whole.push(d);
      }
      assert.deepEqual(stored.held, held, `${mode} fifo ${fifo}`);
      assert.deepEqual(stored.whole, whole, `${mode} fifo ${fifo}`);
      // And its repeat answers the same deliveries.
      const again = l.send({ op: "receive", queue: "q", max: 4 }, {
        session: { id, seq: 1, lowest: 1 },
      });
      assert.ok(again.ok && "messages" in again);
      assert.deepEqual(
        again.messages.map((d) => d.receipt),
        r.messages.map((d) => d.receipt),
        `${mode} fifo ${fifo}`,
      );
    }
  }
});

Deno.test("a session counts the bytes of its receives' and settles' answers as a snapshot restore does", () => {
  const l = new Log();
  l.queue("q");
  l.queue("m", { deliveryMode: "at_most_once" });
  for (let i = 0; i < 6; i++) {
    for (const q of ["q", "m"]) {
      l.apply({ op: "publish", queue: q, message: { body: body(`b${i}`), id: `${q}${i}` } });
    }
  }
  const id = l.openSession();
  let seq = 0;
  const at = () => ({ session: { id, seq: ++seq, lowest: 1 } });
  const r = l.send({ op: "receive", queue: "q", max: 3 }, at());
  l.send({ op: "receive", queue: "m", max: 2 }, at());
  l.send({ op: "receive", queue: "q", max: 3 }, at());
  assert.ok(r.ok && "messages" in r);
  const receipts = r.messages.map((d) => d.receipt);
  l.send({ op: "extend", queue: "q", receipts, leaseMs: 5000 }, at());
  l.send({ op: "ack", queue: "q", receipts: [...receipts, "zz.1.1"] }, at());
  const s = l.broker.sessions.byId.get(id)!;
  for (const a of s.answers.values()) assert.equal(a.bytes, 24 + answerBytes(a.answer), a.op);
  const restored = restoreSnapshot(snapshotBytes(l.broker));
  assert.equal(restored.sessions.bytes, l.broker.sessions.bytes);
  assert.equal(restored.sessions.byId.get(id)!.bytes, s.bytes);
});
