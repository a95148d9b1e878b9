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
