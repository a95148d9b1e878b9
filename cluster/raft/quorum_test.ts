import assert from "node:assert/strict";
import { committedIndex, voteResult } from "./quorum.ts";
import { Inflights, Progress } from "./progress.ts";

Deno.test("committedIndex() is the index a majority has reached", () => {
  const m: Record<string, number> = { a: 5, b: 3, c: 9, d: 1, e: 4 };
  assert.equal(committedIndex(["a", "b", "c", "d", "e"], (id) => m[id]), 4);
  assert.equal(committedIndex(["a", "b", "c"], (id) => m[id]), 5);
  assert.equal(committedIndex(["a", "b"], (id) => m[id]), 3);
  assert.equal(committedIndex([], () => 7), 0);
});

Deno.test("voteResult() decides won, lost and pending", () => {
  const v = (o: Record<string, boolean>) => new Map(Object.entries(o));
  const voters = ["a", "b", "c", "d"];
  assert.equal(voteResult(voters, v({ a: true, b: true })), "pending");
  assert.equal(voteResult(voters, v({ a: true, b: true, c: true })), "won");
  assert.equal(voteResult(voters, v({ a: true, b: false, c: false })), "lost");
});

Deno.test("Inflights frees up to an acknowledged index and reports full", () => {
  const f = new Inflights(3);
  f.add(10);
  f.add(20);
  f.add(30);
  assert.ok(f.full());
  f.freeLE(20);
  assert.equal(f.count, 1);
  f.add(40);
  f.add(50);
  assert.throws(() => f.add(60), /window is full/);
});

Deno.test("Progress.maybeDecrTo() ignores stale rejections and uses the hint", () => {
  const p = new Progress(11, 4, false);
  assert.equal(p.maybeDecrTo(5, 2), false, "not the probe we sent");
  assert.equal(p.maybeDecrTo(10, 4), true);
  assert.equal(p.next, 5);
  p.maybeUpdate(4);
  p.becomeReplicate();
  assert.equal(p.maybeDecrTo(3, 0), false, "below match: stale");
});
