import assert from "node:assert/strict";
import type { Message } from "../../cluster/raft/mod.ts";
import { Network } from "./network.ts";
import { Prng } from "./prng.ts";

function msg(from: string, to: string, index: number): Message {
  return { type: "heartbeat", clusterId: "c", from, to, term: 1, logTerm: 0, index, commit: 0 };
}

Deno.test("Network delivers on the next step when clean, in sending order", () => {
  const n = new Network(new Prng(1));
  n.send(msg("a", "b", 1), 0);
  n.send(msg("a", "b", 2), 0);
  assert.deepEqual(n.deliverDue(0), []);
  assert.deepEqual(n.deliverDue(1).map((m) => m.index), [1, 2]);
  assert.equal(n.inFlightCount(), 0);
});

Deno.test("Network loses messages in flight across a cut link, one way only", () => {
  const n = new Network(new Prng(1));
  n.send(msg("a", "b", 1), 0);
  n.send(msg("b", "a", 2), 0);
  n.cut("a", "b");
  assert.deepEqual(n.deliverDue(1).map((m) => m.index), [2]);
  n.heal();
  n.send(msg("a", "b", 3), 1);
  assert.deepEqual(n.deliverDue(2).map((m) => m.index), [3]);
});

Deno.test("Network delays within bounds, duplicates and drops at the set rates", () => {
  const n = new Network(new Prng(5));
  n.faults = { dropP: 0.2, duplicateP: 0.2, delayStepsMax: 4 };
  for (let i = 0; i < 1000; i++) n.send(msg("a", "b", i), 0);
  let got = 0;
  for (let s = 0; s <= 10; s++) {
    const out = n.deliverDue(s);
    if (s === 0 || s > 5) assert.equal(out.length, 0, `nothing may arrive at step ${s}`);
    got += out.length;
  }
  assert.ok(n.stats.dropped > 150 && n.stats.dropped < 250, `dropped ${n.stats.dropped}`);
  assert.ok(n.stats.duplicated > 100, `duplicated ${n.stats.duplicated}`);
  assert.equal(got, 1000 - n.stats.dropped + n.stats.duplicated);
});

Deno.test("Network.cutBetween cuts both ways between two groups", () => {
  const n = new Network(new Prng(1));
  n.cutBetween(["a"], ["b", "c"]);
  assert.ok(n.isCut("a", "b") && n.isCut("c", "a"));
  assert.ok(!n.isCut("b", "c"));
});
