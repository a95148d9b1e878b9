import assert from "node:assert/strict";
import { LoopMonitor } from "./loop_monitor.ts";

Deno.test("LoopMonitor reports the worst delay during a span and over as long a span before it", () => {
  let now = 10_000;
  const m = new LoopMonitor(() => now);
  m.record(9_000, 40); // before, inside the reference span
  m.record(7_000, 90); // before, older than the reference span
  m.begin();
  now = 10_500;
  m.record(10_200, 12);
  m.record(10_300, 30);
  now = 11_000;
  const { during, before } = m.end();
  assert.equal(during, 30);
  assert.equal(before, 40);
});

Deno.test("LoopMonitor forgets buckets older than its minute", () => {
  let now = 0;
  const m = new LoopMonitor(() => now);
  m.record(1_000, 500);
  now = 1_000 + 60_000; // the same ring slot, a minute later
  m.record(now, 5);
  assert.equal(m.worst(0, 2_000), 0);
  assert.equal(m.worst(now, now), 5);
});

Deno.test("LoopMonitor reports the most CPU its thread ran between two turns of a span", () => {
  let cpu = 100;
  const m = new LoopMonitor(() => 0, () => cpu);
  m.turn(); // outside a span: not counted
  m.begin();
  cpu += 3;
  m.turn();
  cpu += 42; // one long slice
  m.turn();
  cpu += 5;
  assert.equal(m.end().busy, 42);
  cpu += 500; // after the span
  m.turn();
  m.begin();
  cpu += 7;
  assert.equal(m.end().busy, 7);
});

Deno.test("LoopMonitor reports no busy time where the thread's CPU cannot be read", () => {
  const m = new LoopMonitor(() => 0, () => undefined);
  m.begin();
  m.turn();
  assert.equal(m.end().busy, undefined);
});

Deno.test("LoopMonitor says when the worst turn of a span came", () => {
  let now = 10_000;
  const m = new LoopMonitor(() => now);
  m.begin();
  m.record(10_120, 12);
  m.record(10_250, 70);
  m.record(10_260, 30); // the same bucket, less late
  m.record(10_420, 40);
  now = 10_500;
  const r = m.end();
  assert.equal(r.during, 70);
  assert.equal(r.duringAt, 10_250);
});
