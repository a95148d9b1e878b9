/**
 * The apply worker paces between slices of queued work, never after its last one: a pace is a
 * real-time wait on a node (`setTimeout(0)`, 1–4 ms), and an entry committed during it waited for
 * it to end. A sequential publisher's round hit that wait about once per 10 ms.
 */

import assert from "node:assert/strict";
import { NodeDriver } from "./driver.ts";
import { MemoryHardStateStore, MemoryLogStore, MemorySnapshotStore } from "../storage/mod.ts";
import type { StateMachine } from "./ports.ts";

const flush = () => new Promise((r) => setTimeout(r, 0));

class CountMachine implements StateMachine {
  applied = 0;
  apply(): unknown {
    return ++this.applied;
  }
  snapshot() {
    return { serialize: () => new Uint8Array() };
  }
  restore(): void {}
}

Deno.test("NodeDriver: the apply worker does not pace after its last slice", async () => {
  let tick = () => {};
  let paces = 0;
  const sm = new CountMachine();
  const d = await NodeDriver.open({
    raft: { id: "n1", clusterId: "test", electionTicks: 10, heartbeatTicks: 1, random: () => 0.5 },
    bootstrapConf: { voters: ["n1"], learners: [] },
    bootstrapUrls: new Map([["n1", "http://n1"]]),
    storage: {
      log: new MemoryLogStore(),
      hardState: new MemoryHardStateStore(),
      snapshots: new MemorySnapshotStore(),
    },
    sink: { send: () => {} },
    stateMachine: sm,
    startTicker: (_ms, fn) => {
      tick = fn;
      return () => {};
    },
    tickMs: 10,
    snapshotEveryEntries: 1_000_000,
    log: () => {},
    // A pace that never ends: the worker may only wait in it while it has more work queued.
    pace: () => {
      paces++;
      return new Promise<void>(() => {});
    },
    onFatal: (e) => {
      throw e;
    },
  });
  try {
    for (let i = 0; i < 50 && !d.leading; i++) {
      tick();
      await flush();
    }
    assert.ok(d.leading, "a one-node cluster elects itself");
    for (let i = 1; i <= 3; i++) {
      const outcome = await Promise.race([
        d.propose(new Uint8Array([i]), 1000),
        new Promise((r) => setTimeout(() => r("held"), 2000)),
      ]);
      assert.ok(outcome !== "held", `proposal ${i} waited for the pace`);
      assert.deepEqual(outcome, { ...(outcome as object), ok: true, result: i });
      await flush(); // the worker is idle between the rounds, as between a publisher's requests
    }
    assert.equal(paces, 0);
  } finally {
    await d.close();
  }
});
