import assert from "node:assert/strict";
import { BrokerState } from "./state.ts";
import { EntryClock } from "./entry_clock.ts";
import type { Envelope } from "./commands.ts";

/** A node: its broker replica, its clocks (set by the test) and its entry clock. */
function node(wall: number) {
  const broker = new BrokerState();
  const t = { mono: 5_000, wall };
  const clock = new EntryClock({
    monoNowMs: () => t.mono,
    wallNowMs: () => t.wall,
    lastEntryTs: () => broker.lastTs,
  });
  let index = 0;
  const apply = (e: Envelope) => {
    broker.apply(++index, e);
    clock.observe();
  };
  return { broker, t, clock, apply };
}

const tick: Envelope["cmd"] = { op: "tick" };

Deno.test("EntryClock: a first stamp is the wall clock; then only the monotonic clock counts", () => {
  const a = node(1_000_000);
  const first = a.clock.stamp({ cmd: tick });
  assert.deepEqual(first, { ts: 1_000_000, wallClock: true, cmd: tick });
  a.apply(first);
  a.t.mono += 250;
  a.t.wall += 3_600_000; // an NTP step: ignored
  assert.equal(a.clock.now(), 1_000_250);
  a.t.wall -= 7_200_000; // and back: ignored too
  a.t.mono += 50;
  assert.deepEqual(a.clock.stamp({ cmd: tick }), { ts: 1_000_300, cmd: tick });
});

Deno.test("EntryClock: a follower counts from the entries it applies, and never goes back", () => {
  const leader = node(2_000_000);
  const follower = node(2_000_000 - 3_600_000); // an hour behind
  const e1 = leader.clock.stamp({ cmd: tick });
  leader.apply(e1);
  follower.apply(e1);
  follower.t.mono += 700; // an election's worth of silence, then it leads
  assert.deepEqual(follower.clock.stamp({ cmd: tick }), { ts: 2_000_700, cmd: tick });
  // An entry stamped ahead of its count (the old leader's clock ran faster) moves it forward.
  follower.apply({ ts: 2_005_000, cmd: tick });
  assert.equal(follower.clock.now(), 2_005_000);
  follower.t.mono += 10;
  assert.equal(follower.clock.now(), 2_005_010);
  // An entry stamped behind it (clamped by the state machine) does not move it back.
  follower.apply({ ts: 1_000, cmd: tick });
  assert.equal(follower.broker.lastTs, 2_005_000);
  assert.equal(follower.clock.now(), 2_005_010);
});

Deno.test("a wall-clock stamp starts time only where no entry carried one", () => {
  const fresh = new BrokerState();
  fresh.apply(1, { ts: 7_000, wallClock: true, cmd: tick });
  assert.equal(fresh.lastTs, 7_000);
  // A leader that had not replayed its log stamped its (jumped) wall clock: ignored after
  // entries that carry time, in log order, on every replica alike.
  fresh.apply(2, { ts: 3_600_000 + 7_000, wallClock: true, cmd: tick });
  assert.equal(fresh.lastTs, 7_000);
  fresh.apply(3, { ts: 7_500, cmd: tick });
  assert.equal(fresh.lastTs, 7_500);
});

Deno.test("EntryClock: a restarted node anchors to its replayed state before it stamps", () => {
  const n = node(9_999_999_999);
  n.apply({ ts: 50_000, cmd: tick });
  const restarted = new EntryClock({
    monoNowMs: () => 12, // a new process: another monotonic origin
    wallNowMs: () => 9_999_999_999,
    lastEntryTs: () => n.broker.lastTs,
  });
  assert.deepEqual(restarted.stamp({ cmd: tick }), { ts: 50_000, cmd: tick });
  assert.equal(
    new EntryClock({
      monoNowMs: () => 0,
      wallNowMs: () => 1,
      lastEntryTs: () => 0,
    }).now(),
    0,
  );
});
