/**
 * Claims, slots and retained messages under random commands: a replica restored from a snapshot
 * taken at any point answers every later command as the original does (timed claim ends
 * included) and ends in the same state, byte for byte.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import type { Command } from "./commands.ts";
import { restoreSnapshot, snapshotBytes } from "./snapshot.ts";
import { body, Log } from "./_testing.ts";

type Step = { cmd: Command } | { advance: number };

const key = fc.constantFrom("c1", "c2");
const holder = fc.constantFrom("h1", "h2", "h3");
const sub = fc.constantFrom("s1", "s2");
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ advance: fc.integer({ min: 1, max: 3000 }) }),
  fc.record({
    cmd: fc.record({
      op: fc.constant("claim_take" as const),
      topic: fc.constant("t"),
      key,
      holder,
      fresh: fc.boolean(),
      subscriptions: fc.constantFrom(["s1"], ["s1", "s2"]),
      expireMs: fc.integer({ min: 0, max: 5000 }),
    }),
  }),
  fc.record({
    cmd: fc.record({
      op: fc.constant("claim_release" as const),
      topic: fc.constant("t"),
      key,
      holder,
    }),
  }),
  fc.record({
    cmd: fc.record({
      op: fc.constant("subscription_put" as const),
      topic: fc.constant("t"),
      subscription: sub,
      options: fc.constant({}),
    }),
  }),
  fc.record({
    cmd: fc.record({
      op: fc.constant("claim_free" as const),
      topic: fc.constant("t"),
      key,
      slots: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
    }),
  }),
  fc.record({ slot: fc.integer({ min: 1, max: 3 }), text: fc.constantFrom("a", "b"), key }).map(
    ({ slot, text, key }): Step => ({
      cmd: {
        op: "topic_publish",
        topic: "t",
        message: {
          body: body(text),
          subject: "x",
          once: { claim: key, slot },
          retain: text === "a" ? "set" : "clear",
        },
      },
    }),
  ),
);

function run(l: Log, s: Step): unknown {
  if ("advance" in s) {
    l.advance(s.advance);
    return "tick";
  }
  return l.apply(s.cmd);
}

Deno.test("claims, slots and retained messages: a replica restored at any point answers as the original", () => {
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), fc.nat(), (steps, at) => {
      const a = new Log();
      a.apply({ op: "topic_put", topic: "t", options: {} });
      const cut = at % steps.length;
      for (const s of steps.slice(0, cut)) run(a, s);
      const b = new Log(restoreSnapshot(snapshotBytes(a.broker)));
      b.index = a.index;
      b.now = a.now;
      for (const s of steps.slice(cut)) assert.deepEqual(run(b, s), run(a, s));
      assert.deepEqual(
        new Uint8Array(snapshotBytes(b.broker)),
        new Uint8Array(snapshotBytes(a.broker)),
      );
    }),
    { numRuns: 300 },
  );
});

Deno.test("claims: a snapshot taken after every claim was released keeps the claim numbers given out", () => {
  // fast-check's counterexample (seed -1857129299): the restored replica gave claim number 1 again.
  const a = new Log();
  a.apply({ op: "topic_put", topic: "t", options: {} });
  a.apply({
    op: "claim_take",
    topic: "t",
    key: "c1",
    holder: "h1",
    fresh: false,
    subscriptions: ["s1"],
    expireMs: 0,
  });
  a.apply({ op: "claim_release", topic: "t", key: "c1", holder: "h1" });
  const b = new Log(restoreSnapshot(snapshotBytes(a.broker)));
  b.index = a.index;
  b.now = a.now;
  const take: Command = {
    op: "claim_take",
    topic: "t",
    key: "c2",
    holder: "h2",
    fresh: false,
    subscriptions: [],
    expireMs: 0,
  };
  assert.deepEqual(b.apply(take), a.apply(take));
  assert.deepEqual(
    new Uint8Array(snapshotBytes(b.broker)),
    new Uint8Array(snapshotBytes(a.broker)),
  );
});
