import assert from "node:assert/strict";
import { runBrokerSeed } from "./broker_run.ts";

Deno.test("broker sim: seeds with crashes and partitions keep every broker promise", () => {
  const totals = {
    acknowledged: 0,
    deliveries: 0,
    unknown: 0,
    replayed: 0,
    sessionWrites: 0,
    routedDeliveries: 0,
  };
  for (let seed = 1; seed <= 8; seed++) {
    const r = runBrokerSeed({ seed, nodes: seed % 2 === 0 ? 3 : 5, steps: 400 });
    assert.deepEqual(r.violations, [], `seed ${seed}: ${r.violations.join("\n")}`);
    totals.acknowledged += r.stats.acknowledged;
    totals.deliveries += r.stats.deliveries;
    totals.unknown += r.stats.unknown;
    totals.replayed += r.stats.replayed;
    totals.sessionWrites += r.stats.sessionWrites;
    totals.routedDeliveries += r.stats.routedDeliveries;
  }
  assert.ok(totals.sessionWrites > 200, `only ${totals.sessionWrites} session writes applied`);
  assert.ok(totals.replayed > 0, "no retry was answered from a session's stored answer");
  assert.ok(totals.routedDeliveries > 50, `only ${totals.routedDeliveries} routed deliveries`);
  assert.ok(totals.acknowledged > 100, `only ${totals.acknowledged} publishes acknowledged`);
  assert.ok(totals.deliveries > 100, `only ${totals.deliveries} deliveries`);
  assert.ok(totals.unknown > 0, "no unknown outcome: the faults did not reach the client");
});

Deno.test("broker sim: a client that retries publishes without their id is caught duplicating", () => {
  let caught = 0;
  for (let seed = 1; seed <= 8 && caught === 0; seed++) {
    const r = runBrokerSeed({
      seed,
      nodes: 3,
      steps: 400,
      clientFaults: { retryPublishWithoutId: true },
    });
    if (r.violations.some((v) => v.startsWith("duplicate:"))) caught++;
  }
  assert.ok(caught > 0, "no seed showed the duplicates that id-less retries create");
});

Deno.test("broker sim: wall clocks that jump an hour forward and back change no promise", () => {
  let jumps = 0;
  for (let seed = 1; seed <= 8; seed++) {
    const r = runBrokerSeed({
      seed,
      nodes: seed % 2 === 0 ? 3 : 5,
      steps: 400,
      wallClockJumps: 0.02,
    });
    assert.deepEqual(r.violations, [], `seed ${seed}: ${r.violations.join("\n")}`);
    jumps += r.stats.wallClockJumps;
  }
  assert.ok(jumps > 20, `only ${jumps} wall clock jumps`);
});

Deno.test("broker sim: replicas that ignore sessions are caught applying a (session, seq) twice", () => {
  let caught = 0;
  for (let seed = 1; seed <= 8 && caught === 0; seed++) {
    const r = runBrokerSeed({ seed, nodes: 3, steps: 400, ignoreSessions: true });
    if (r.violations.some((v) => v.startsWith("session write") && v.includes("applied twice"))) {
      caught++;
    }
  }
  assert.ok(caught > 0, "no seed showed a session write applied twice with sessions ignored");
});
