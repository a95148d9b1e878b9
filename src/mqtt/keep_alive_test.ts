import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { type KeepAliveClock, watchKeepAlive } from "./keep_alive.ts";

/** A clock whose time moves only by `advance`, running each timer due on the way. */
function fakeClock() {
  let now = 0;
  let nextId = 1;
  const timers = new Map<number, { at: number; f: () => void }>();
  const clock: KeepAliveClock = {
    now: () => now,
    set: (f, ms) => (timers.set(nextId, { at: now + Math.max(0, ms), f }), nextId++),
    clear: (id) => void timers.delete(id as number),
  };
  let fired = 0;
  const advance = (to: number) => {
    for (let i = 0; i < 1_000; i++) {
      const due = [...timers].filter(([, t]) => t.at <= to).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      timers.delete(due[0]);
      now = due[1].at;
      fired++;
      due[1].f();
    }
    now = to;
  };
  return { clock, advance, fired: () => fired, pending: () => timers.size };
}

Deno.test("keep-alive: a silent client expires just past 1.5 × keep-alive, after one wake", () => {
  const c = fakeClock();
  const expired: number[] = [];
  watchKeepAlive(10, () => 0, (limit) => expired.push(limit), c.clock);
  c.advance(15_000);
  assertEquals(expired, []); // silent for exactly the limit: not more than it
  c.advance(15_001);
  assertEquals(expired, [15_000]);
  assertEquals(c.fired(), 1); // before: a check every second, 16 of them
  assertEquals(c.pending(), 0);
});

Deno.test("keep-alive: each packet moves the deadline; the timer sleeps until it", () => {
  const c = fakeClock();
  let last = 0;
  let expiredAt: number | undefined;
  watchKeepAlive(2, () => last, () => expiredAt = c.clock.now(), c.clock);
  for (let t = 1_000; t <= 60_000; t += 1_000) {
    c.advance(t);
    last = t; // a ping every second, within the 3 s limit
  }
  assertEquals(expiredAt, undefined);
  assertEquals(c.fired() <= 60_000 / 2_000 + 1, true); // about one wake per limit
  c.advance(63_000);
  assertEquals(expiredAt, undefined);
  c.advance(64_000);
  assertEquals(expiredAt, 63_001);
});

Deno.test("keep-alive: not while the socket is not read; resuming counts as a packet", () => {
  const c = fakeClock();
  let last: number | undefined = undefined; // held from the start
  let expired = false;
  watchKeepAlive(1, () => last, () => expired = true, c.clock);
  c.advance(10_000);
  assertEquals(expired, false);
  last = 10_000;
  c.advance(11_500);
  assertEquals(expired, false);
  c.advance(11_501);
  assertEquals(expired, true);
});

Deno.test("keep-alive: 0 watches nothing; a stopped watch never expires", () => {
  const c = fakeClock();
  let expired = 0;
  watchKeepAlive(0, () => 0, () => expired++, c.clock);
  assertEquals(c.pending(), 0);
  const stop = watchKeepAlive(1, () => 0, () => expired++, c.clock);
  stop();
  c.advance(100_000);
  assertEquals(expired, 0);
  assertEquals(c.pending(), 0);
});
