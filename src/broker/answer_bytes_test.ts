import assert from "node:assert/strict";
import fc from "fast-check";
import { answerBytes } from "./_answer_bytes.ts";
import { publishBytes, receiveBytes, settleBytes } from "./_answers.ts";
import { BrokerState } from "./state.ts";
import type { Delivery } from "./commands.ts";

// The estimate decides `sessions_full` answers, so every replica (and every version of the code
// in one cluster) must compute the same figure: these are the figures of the first version.
Deno.test("answerBytes keeps its figures for every kind of value", () => {
  const sparse: unknown[] = [1];
  sparse[3] = "x";
  const cases: [unknown, number][] = [
    ["abc", 19],
    [7, 8],
    [true, 8],
    [null, 8],
    [undefined, 8],
    [new Uint8Array(10), 42],
    [[], 16],
    [[1, 2, 3], 40],
    [sparse, 57],
    [{ ok: true, held: [1, 2, 3, 4, 5, 6], whole: [] }, 139],
    [{ ok: true, codes: "aaA", leases: [5, 6] }, 112],
    [{ ok: true, messages: [{ seq: 1, id: "m1", body: new Uint8Array(4), headers: {} }] }, 208],
    [[[1, [2, "ab"]], { a: [null] }], 131],
  ];
  for (const [v, want] of cases) assert.equal(answerBytes(v), want, String(v));
});

Deno.test("the compact answers' sizes from their shape are answerBytes of them", () => {
  fc.assert(
    fc.property(
      fc.array(fc.nat(), { maxLength: 300 }),
      fc.array(fc.record({ seq: fc.nat(), id: fc.string(), body: fc.uint8Array() }), {
        maxLength: 4,
      }),
      fc.string(),
      fc.array(fc.nat(), { maxLength: 20 }),
      (held, whole, codes, leases) => {
        const w = whole as unknown as Delivery[];
        assert.equal(receiveBytes(held.length, w), answerBytes({ ok: true, held, whole: w }));
        assert.equal(
          settleBytes(codes, leases.length),
          answerBytes(leases.length === 0 ? { ok: true, codes } : { ok: true, codes, leases }),
        );
      },
    ),
  );
});

Deno.test("a publish's answer counts answerBytes of it, stored in a session, on every path", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({ id: fc.oneof(fc.string({ maxLength: 3 }), fc.string()), body: fc.nat(3) }),
        { maxLength: 40 },
      ),
      fc.nat(20),
      (msgs, maxMessages) => {
        const state = new BrokerState();
        // Duplicates (short ids repeat), refusals (queue_full) and fresh publishes alike.
        assert.ok(
          state.apply(1, { ts: 1, cmd: { op: "queue_put", queue: "q", options: { maxMessages } } })
            .ok,
        );
        assert.ok(state.apply(2, { ts: 1, cmd: { op: "session_open" } }).ok);
        msgs.forEach((m, i) => {
          const message = { id: m.id, body: new Uint8Array(m.body) };
          state.apply(3 + i, {
            ts: 2 + i,
            cmd: { op: "publish", queue: "q", message },
            session: { id: 2, seq: i + 1, lowest: 0 },
          });
        });
        const s = state.sessions.byId.get(2)!;
        assert.equal(s.answers.size, msgs.length);
        for (const a of s.answers.values()) {
          assert.equal(a.bytes, 24 + answerBytes(a.answer), JSON.stringify(a.answer));
        }
      },
    ),
  );
  assert.equal(publishBytes("m1"), answerBytes({ ok: true, seq: 1, id: "m1", duplicate: false }));
});
