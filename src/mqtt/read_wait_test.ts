import assert from "node:assert/strict";
import { ReadWait } from "./read_wait.ts";
import { harness, publish, published, settle } from "./_testing_inbound.ts";

/** Counts the timers set while `f` runs. */
async function timersSet(f: () => Promise<void>): Promise<number> {
  const original = globalThis.setTimeout;
  let n = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    n++;
    return original(...args);
  }) as typeof setTimeout;
  try {
    await f();
  } finally {
    globalThis.setTimeout = original;
  }
  return n;
}

Deno.test("a read ends the wait with true, the deadline with false", async () => {
  const w = new ReadWait();
  const read = w.wait(performance.now() + 10_000);
  w.read();
  assert.equal(await read, true);
  assert.equal(await w.wait(performance.now() + 5), false);
  assert.equal(await w.wait(undefined), false, "one timer turn");
  w.end();
});

Deno.test("a series of waits for one deadline shares one timer, and end clears it", async () => {
  const w = new ReadWait();
  const set = await timersSet(async () => {
    const until = performance.now() + 10_000;
    for (let i = 0; i < 5; i++) {
      const p = w.wait(until);
      w.read();
      assert.equal(await p, true);
    }
    const last = w.wait(until);
    w.end();
    assert.equal(await last, false, "end ends a pending wait");
  });
  assert.equal(set, 1);
  // The test's op sanitizer fails it if the timer was left armed.
});

Deno.test("a later deadline waits out its own time on a timer armed for an earlier one", async () => {
  const w = new ReadWait();
  const first = w.wait(performance.now() + 5);
  w.read();
  assert.equal(await first, true);
  const until = performance.now() + 40;
  assert.equal(await w.wait(until), false);
  assert.ok(performance.now() >= until - 1, "not ended by the earlier timer");
  // An earlier deadline than the armed timer's gets a timer of its own.
  const late = w.wait(performance.now() + 10_000);
  w.read();
  await late;
  const started = performance.now();
  assert.equal(await w.wait(started + 5), false);
  assert.ok(performance.now() - started < 5_000);
  w.end();
});

Deno.test("a read with no wait pending is not kept for the next wait", async () => {
  const w = new ReadWait();
  w.read();
  assert.equal(await w.wait(performance.now() + 5), false);
  w.end();
});

Deno.test("a batch's held answers and its refill wait set one timer, not one per wait", async () => {
  // As "after the held answers, the wait goes on until the client has sent as many"
  // (inbound_test.ts): six waits for a read in one batch's answers (two held answers, then the
  // refill), all for one deadline. Each set a timer of its own before (~10 µs each on Deno).
  const { inbound, requests, acks } = harness();
  for (let id = 1; id <= 6; id++) inbound.publish(publish(id));
  inbound.flush();
  await settle();
  const ticks = async () => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  const set = await timersSet(async () => {
    requests[0].answer(201, published(6));
    await ticks();
    for (let id = 7; id <= 12; id++) {
      inbound.publish(publish(id));
      inbound.flush();
      await ticks();
    }
  });
  assert.deepEqual(acks, [1, 2, 3, 4, 5, 6]);
  assert.equal(set, 1);
  await settle();
  assert.equal(requests.length, 2);
  assert.equal(requests[1].messages.length, 6);
  requests[1].answer(201, published(6, 7));
  for (let i = 0; i < 500 && acks.length < 12; i++) await settle();
  assert.equal(acks.length, 12);
});
