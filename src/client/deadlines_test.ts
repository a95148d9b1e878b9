import assert from "node:assert/strict";
import fc from "fast-check";
import { Deadlines } from "./deadlines.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Against the plain model (one timer each): a callback fires once, never before its delay, and
 * never after it was cancelled; one not cancelled fires; no timer is left once every callback
 * has fired or been cancelled.
 */
Deno.test("Deadlines fires each callback once after its delay unless cancelled first, and leaves no timer", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          delay: fc.integer({ min: 0, max: 15 }),
          // Cancel after this many ms (undefined: never), racing the deadline.
          cancelAfter: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
          // Added after this many ms, so that later ones may fall due before earlier ones.
          addAfter: fc.integer({ min: 0, max: 5 }),
        }),
        { minLength: 1, maxLength: 12 },
      ),
      async (plan) => {
        const deadlines = new Deadlines();
        const fired = plan.map(() => 0);
        const cancelled = plan.map(() => false);
        await Promise.all(plan.map(async (p, i) => {
          await sleep(p.addAfter);
          const added = performance.now();
          const cancel = deadlines.add(p.delay, () => {
            assert.ok(!cancelled[i], `callback ${i} fired after it was cancelled`);
            // Whole milliseconds: timers round.
            assert.ok(performance.now() - added >= p.delay - 1, `callback ${i} fired early`);
            fired[i]++;
          });
          if (p.cancelAfter !== undefined) {
            await sleep(p.cancelAfter);
            if (fired[i] === 0) cancelled[i] = true;
            cancel();
            cancel(); // twice is harmless
          }
        }));
        for (let waited = 0; deadlines.size > 0 && waited < 2_000; waited += 5) await sleep(5);
        assert.equal(deadlines.size, 0);
        assert.equal(deadlines.armed, false);
        plan.forEach((_, i) => {
          assert.equal(fired[i], cancelled[i] ? 0 : 1, `callback ${i}`);
        });
      },
    ),
    { numRuns: 25 },
  );
});

Deno.test("Deadlines: a callback added inside another's is armed, and cancelling all disarms", async () => {
  const deadlines = new Deadlines();
  const order: string[] = [];
  await new Promise<void>((resolve) => {
    deadlines.add(2, () => {
      order.push("first");
      deadlines.add(1, () => {
        order.push("second");
        resolve();
      });
    });
  });
  assert.deepEqual(order, ["first", "second"]);
  assert.equal(deadlines.armed, false);
  const cancels = [5_000, 10_000, 1].map((ms) => deadlines.add(ms, () => order.push("late")));
  for (const cancel of cancels) cancel();
  assert.equal(deadlines.size, 0);
  assert.equal(deadlines.armed, false);
  assert.deepEqual(order, ["first", "second"]);
});

Deno.test("Deadlines: attempts one after another share one timer, unref'd between them", async () => {
  const realSet = globalThis.setTimeout;
  let set = 0;
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    set++;
    return realSet(fn, ms);
  }) as typeof setTimeout;
  try {
    const deadlines = new Deadlines(undefined, true);
    for (let i = 0; i < 100; i++) {
      const cancel = deadlines.add(10_000, () => assert.fail("cancelled before its deadline"));
      assert.equal(deadlines.armed, true, "holds the loop while an attempt is pending");
      cancel();
      assert.equal(deadlines.armed, false, "lets a script exit between attempts");
    }
    assert.equal(set, 1, "one timer for 100 sequential attempts");
    // An earlier deadline than the resting timer's still fires on time.
    let fired = false;
    deadlines.add(1, () => fired = true);
    for (let waited = 0; !fired && waited < 2_000; waited += 5) await sleep(5);
    assert.equal(fired, true);
    assert.equal(deadlines.armed, false);
    deadlines.add(10_000, () => assert.fail("cancelled"))();
    assert.equal(deadlines.timerSet, true, "kept, unref'd");
    deadlines.clearIdle();
    assert.equal(deadlines.timerSet, false);
  } finally {
    globalThis.setTimeout = realSet;
  }
});
