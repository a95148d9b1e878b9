import assert from "node:assert/strict";
import { ReusedTimer } from "./start_timers.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counts `setTimeout` calls for `delayMs` while `fn` runs. */
async function countingTimers<T>(
  delayMs: number,
  fn: () => Promise<T>,
): Promise<{ value: T; set: number }> {
  const realSet = globalThis.setTimeout;
  let set = 0;
  globalThis.setTimeout = ((cb: () => void, ms?: number) => {
    if (ms === delayMs) set++;
    return realSet(cb, ms);
  }) as typeof setTimeout;
  try {
    return { value: await fn(), set };
  } finally {
    globalThis.setTimeout = realSet;
  }
}

/** Waits (bounded) until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  for (let waited = 0; !cond() && waited < 2_000; waited += 2) await sleep(2);
}

Deno.test("ReusedTimer: a start cancelled before its time, round after round, sets one timer", async () => {
  const timer = new ReusedTimer();
  try {
    const { set } = await countingTimers(47, async () => {
      for (let i = 0; i < 100; i++) {
        const cancel = timer.start(47, () => assert.fail("cancelled before its time"));
        if (i % 10 === 0) await sleep(0); // a loop turn now and then, as between real rounds
        cancel();
      }
    });
    assert.equal(set, 1);
  } finally {
    timer.close();
  }
});

Deno.test("ReusedTimer: fires once after its delay, again after a later start, never after cancel or close", async () => {
  const timer = new ReusedTimer();
  try {
    const fired: number[] = [];
    const t0 = performance.now();
    timer.start(5, () => fired.push(performance.now() - t0));
    await until(() => fired.length === 1);
    assert.equal(fired.length, 1);
    assert.ok(fired[0] >= 4, `fired after ${fired[0]} ms`);
    // A cancelled start, then one that runs: only the second fires.
    timer.start(5, () => assert.fail("cancelled"))();
    timer.start(5, () => fired.push(-1));
    await until(() => fired.length === 2);
    assert.deepEqual(fired.slice(1), [-1]);
    // Started from its own callback (the driver's notice can start the next one).
    timer.start(3, () => timer.start(3, () => fired.push(-2)));
    await until(() => fired.length === 3);
    assert.deepEqual(fired.slice(2), [-2]);
    // Two at once: each fires.
    timer.start(3, () => fired.push(1));
    timer.start(3, () => fired.push(2));
    await until(() => fired.length === 5);
    assert.deepEqual(fired.slice(3).sort(), [1, 2]);
    timer.start(3, () => assert.fail("closed"));
    timer.close();
    await sleep(10);
  } finally {
    timer.close();
  }
});
