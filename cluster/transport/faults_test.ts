import assert from "node:assert/strict";
import { applyFault, FaultTable, validateFaultSpec } from "./faults.ts";
import { appendMsg, startNodes, stopNodes, waitFor } from "./_testing_harness.ts";

const opts = { sanitizeOps: true, sanitizeResources: true };

Deno.test("validateFaultSpec() accepts a full spec and lists every problem of a bad one", () => {
  const good = { peer: "n2", direction: "both", dropProbability: 0.5, delayMs: 10, cut: false };
  assert.deepStrictEqual(validateFaultSpec(good), { ok: true, spec: good });
  const bad = validateFaultSpec({
    peer: "",
    direction: "sideways",
    dropProbability: 2,
    delayMs: -1,
    cut: "yes",
    x: 1,
  });
  assert.equal(bad.ok, false);
  assert.equal(bad.ok ? 0 : bad.errors.length, 6);
  assert.equal(validateFaultSpec(null).ok, false);
  assert.equal(validateFaultSpec([]).ok, false);
  assert.equal(validateFaultSpec({ peer: "n2", direction: "in", delayMs: Infinity }).ok, false);
});

Deno.test("FaultTable.set() with direction both sets in and out; clear() removes one peer", () => {
  const t = new FaultTable();
  t.set({ peer: "n2", direction: "both", cut: true });
  t.set({ peer: "n3", direction: "out", delayMs: 5 });
  assert.equal(t.get("n2", "in")?.cut, true);
  assert.equal(t.get("n2", "out")?.cut, true);
  assert.equal(t.get("n3", "in"), undefined);
  assert.equal(t.get("n3", "out")?.delayMs, 5);
  t.clear("n2");
  assert.deepStrictEqual(t.list().map((r) => r.peer), ["n3"]);
  assert.throws(
    () => t.set({ peer: "n2", direction: "out", dropProbability: 7 }),
    /dropProbability/,
  );
});

Deno.test("applyFault() drops by probability with the injected random and keeps order", () => {
  const msgs = [1, 2, 3, 4].map((i) => appendMsg("n1", "n2", i));
  const rolls = [0.1, 0.9, 0.2, 0.8];
  const fault = { dropProbability: 0.5, delayMs: 0, delayJitterMs: 0, cut: false };
  const out = applyFault(fault, msgs, () => rolls.shift()!);
  assert.deepStrictEqual(out.now.map((m) => m.index), [2, 4]);
  assert.equal(out.dropped, 2);
  const jittered = applyFault({ ...fault, dropProbability: 0, delayJitterMs: 10 }, msgs, () => 0.5);
  assert.deepStrictEqual(jittered.later.map((l) => l.delayMs), [5, 5, 5, 5]);
});

Deno.test({
  name: "Transport.faults is absent without the faultSeam flag",
  ...opts,
  fn: async () => {
    const [n1] = startNodes(["n1"]);
    try {
      assert.equal(n1.transport.faults, undefined);
    } finally {
      await stopNodes([n1]);
    }
  },
});

Deno.test({
  name: "Transport fault seam: a one-way cut stops n1→n2 while n2→n1 flows, clear heals it",
  ...opts,
  fn: async () => {
    const [n1, n2] = startNodes(["n1", "n2"], { n1: { faultSeam: true } });
    try {
      n1.transport.faults!.set({ peer: "n2", direction: "out", cut: true });
      n1.transport.send([appendMsg("n1", "n2", 1)]);
      n2.transport.send([appendMsg("n2", "n1", 2)]);
      await waitFor("n2→n1", () => n1.received.length === 1);
      await waitFor("n1 link up", () => n1.transport.stats().outbound.n2.state === "open");
      assert.equal(n2.received.length, 0);
      assert.equal(n1.transport.stats().droppedByFault, 1);
      n1.transport.faults!.clear();
      n1.transport.send([appendMsg("n1", "n2", 3)]);
      await waitFor("healed", () => n2.received.length === 1);
      assert.equal(n2.received[0].index, 3);
    } finally {
      await stopNodes([n1, n2]);
    }
  },
});

Deno.test({
  name:
    "Transport fault seam: an inbound cut drops what a peer sends, drop probability 1 drops all",
  ...opts,
  fn: async () => {
    const [n1, n2] = startNodes(["n1", "n2"], { n1: { faultSeam: true } });
    try {
      n1.transport.faults!.set({ peer: "n2", direction: "in", cut: true });
      n2.transport.send([appendMsg("n2", "n1", 1)]);
      await waitFor("frame arrives", () => n1.transport.stats().inbound.n2?.receivedMessages === 1);
      assert.equal(n1.received.length, 0);
      n1.transport.faults!.set({ peer: "n2", direction: "both", dropProbability: 1 });
      n2.transport.send([appendMsg("n2", "n1", 2)]);
      n1.transport.send([appendMsg("n1", "n2", 3)]);
      await waitFor("frame 2", () => n1.transport.stats().inbound.n2?.receivedMessages === 2);
      assert.equal(n1.received.length, 0);
      assert.equal(n1.transport.stats().droppedByFault, 3);
      assert.equal(n1.transport.stats().outbound.n2.sentMessages, 0);
    } finally {
      await stopNodes([n1, n2]);
    }
  },
});

Deno.test({
  name: "Transport fault seam: delay holds messages back, in order, and close() clears its timers",
  ...opts,
  fn: async () => {
    const [n1, n2] = startNodes(["n1", "n2"], { n1: { faultSeam: true } });
    try {
      n1.transport.send([appendMsg("n1", "n2", 0)]);
      await waitFor("link up", () => n2.received.length === 1);
      n1.transport.faults!.set({ peer: "n2", direction: "out", delayMs: 150 });
      const start = performance.now();
      n1.transport.send([appendMsg("n1", "n2", 1), appendMsg("n1", "n2", 2)]);
      await waitFor("delayed", () => n2.received.length === 3);
      assert.ok(performance.now() - start >= 140, `arrived after ${performance.now() - start} ms`);
      assert.deepStrictEqual(n2.received.map((m) => m.index), [0, 1, 2]);
      n1.transport.send([appendMsg("n1", "n2", 4)]); // still held when the transport closes
    } finally {
      await stopNodes([n1, n2]);
    }
  },
});
