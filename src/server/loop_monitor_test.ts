import assert from "node:assert/strict";
import { LoopMonitor } from "./loop_monitor.ts";
import { NodeTicker } from "./node_ticker.ts";

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

Deno.test("LoopMonitor probes every 100 ms while its node is quiet, every 10 ms once it works", () => {
  let cpu = 0;
  const m = new LoopMonitor(() => 0, () => undefined, () => cpu);
  assert.equal(m.periodMs, 10);
  for (let t = 10; t <= 100; t += 10) m.probe(t); // 100 ms, the thread idle
  assert.equal(m.periodMs, 100);
  cpu += 4; // under 5% of the next 100 ms: still quiet
  m.probe(200);
  assert.equal(m.periodMs, 100);
  cpu += 30; // a burst of work
  m.probe(300);
  assert.equal(m.periodMs, 10);
  for (let t = 310; t <= 400; t += 10) m.probe(t); // quiet again after a look's span
  assert.equal(m.periodMs, 100);
});

Deno.test("LoopMonitor keeps its late turns while quiet, and probes a measured span at full rate", () => {
  let cpu = 0;
  let now = 0;
  const m = new LoopMonitor(() => now, () => cpu, () => cpu);
  for (now = 10; now <= 100; now += 10) m.probe(now);
  assert.equal(m.periodMs, 100);
  now = 100;
  m.begin();
  m.probe(260); // 60 ms late against the quiet period it was armed with... then full rate
  assert.equal(m.periodMs, 10);
  cpu += 100;
  m.probe(270);
  now = 280;
  assert.equal(m.end().during, 60);
});

Deno.test("LoopMonitor stays at full rate where the process's CPU cannot be read", () => {
  const m = new LoopMonitor(() => 0, () => undefined, () => undefined);
  for (let t = 10; t <= 500; t += 10) m.probe(t);
  assert.equal(m.periodMs, 10);
});

Deno.test("LoopMonitor rides on the node's ticker, busy or quiet, but for a measured span", () => {
  let now = 0;
  let cpu = 0;
  const ticker = new NodeTicker(50);
  const m = new LoopMonitor(() => now, () => undefined, () => cpu);
  m.run(ticker); // synchronous from here on: no real timer fires in between
  try {
    assert.equal(m.periodMs, 50); // on the ticker from the start
    now = 130;
    ticker.beat(); // the ticker's beat is the probe: 80 ms late
    assert.equal(m.worst(100, 140), 80);
    cpu += 100; // the node works hard (a whole core)
    for (now = 180; now <= 480; now += 50) ticker.beat();
    assert.equal(m.periodMs, 50); // still on the ticker: no timer of its own to wake it
    m.begin(); // a snapshot: probed every 10 ms on a timer of its own
    assert.equal(m.periodMs, 10);
    now = 600;
    ticker.beat(); // no longer riding: nothing recorded
    assert.equal(m.worst(590, 610), 0);
    m.probe(now);
    m.end();
    assert.equal(m.periodMs, 50); // back on the ticker
    now = 710;
    ticker.beat(); // 60 ms late against the beat
    assert.equal(m.worst(700, 720), 60);
  } finally {
    m.stop();
    ticker.stop();
  }
});
