import assert from "node:assert/strict";
import fc from "fast-check";
import { answerBytes } from "./_answer_bytes.ts";
import { receiveBytes, settleBytes } from "./_answers.ts";
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
