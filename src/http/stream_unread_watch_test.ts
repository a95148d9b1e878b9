/**
 * `UnreadWatch` gives a stream up only when its unsent bytes stay above the bound without
 * shrinking for a grace period: a slow reader (a large answer on a slow link) keeps its stream.
 */
import assert from "node:assert/strict";
import { UNREAD_GRACE_MS, UnreadWatch, UNSENT_MAX } from "./stream_liveness.ts";

/** A watch whose grace periods end when the test says (`tick`). */
function watched(unsent: () => number) {
  let due: (() => void) | undefined;
  let stuck = 0;
  const watch = new UnreadWatch(unsent, () => stuck++, (fn, ms) => {
    assert.equal(ms, UNREAD_GRACE_MS);
    due = fn;
    return 0 as unknown as ReturnType<typeof setTimeout>;
  });
  const tick = () => {
    const fn = due;
    due = undefined;
    fn?.();
  };
  return { watch, tick, stuck: () => stuck, watching: () => due !== undefined };
}

Deno.test("UnreadWatch: shrinking unsent bytes keep the stream; stuck ones give it up", () => {
  let unsent = UNSENT_MAX + 10_000_000;
  const w = watched(() => unsent);
  w.watch.sent();
  // A slow reader: each period it took some, still above the bound.
  for (let i = 0; i < 5; i++) {
    unsent -= 1_000_000;
    w.tick();
    assert.equal(w.stuck(), 0, "a client that reads is not given up");
    assert.ok(w.watching());
  }
  // It stops reading: the next period sees no change.
  w.tick();
  assert.equal(w.stuck(), 1);
});

Deno.test("UnreadWatch: below the bound it does not watch, and stops once it is back below", () => {
  let unsent = UNSENT_MAX;
  const w = watched(() => unsent);
  w.watch.sent();
  assert.ok(!w.watching());
  unsent = UNSENT_MAX + 1;
  w.watch.sent();
  unsent = 0;
  w.tick();
  assert.equal(w.stuck(), 0);
  assert.ok(!w.watching());
});
