/**
 * A member that missed a membership change (docs/reliability.md item 11), the driver's part: a leader's snapshot installed at run time replaces the
 * member URLs, and whoever follows them (the transport, through `onApplied`) must hear of it.
 * Before, only applied entries told the listeners, so a snapshot that carried a new member left
 * the transport without a link to it until some later entry applied.
 */
import assert from "node:assert/strict";
import { NodeDriver } from "./driver.ts";
import { wrapSnapshot } from "./membership.ts";
import { handDriven, ListMachine } from "./_testing_cluster.ts";
import { MemoryHardStateStore, MemoryLogStore, MemorySnapshotStore } from "../storage/mod.ts";

const flush = () => new Promise((r) => setTimeout(r, 0));

Deno.test("NodeDriver tells its applied listeners of the member URLs a leader's snapshot brought", async () => {
  const urls = new Map([["a", "http://a"], ["f", "http://f"]]);
  const d = await NodeDriver.open({
    raft: { id: "f", clusterId: "test", electionTicks: 10, heartbeatTicks: 1, random: () => 0.5 },
    bootstrapConf: { voters: ["a", "f"], learners: [] },
    bootstrapUrls: urls,
    storage: {
      log: new MemoryLogStore(),
      hardState: new MemoryHardStateStore(),
      snapshots: new MemorySnapshotStore(),
    },
    sink: { send: () => {} },
    stateMachine: new ListMachine(),
    ...handDriven().options,
  });
  try {
    await flush();
    const told: string[][] = [];
    d.onApplied(() => told.push(d.urls.entries().map(([id]) => id).sort()));
    const withX = [...urls, ["x", "http://x"] as [string, string]];
    const data = await wrapSnapshot(withX, new TextEncoder().encode("[]"), () => Promise.resolve());
    const meta = { index: 20, term: 2, conf: { voters: ["a", "f", "x"], learners: [] } };
    d.receive([{
      clusterId: "test",
      from: "a",
      to: "f",
      term: 2,
      type: "snapshot",
      logTerm: 0,
      index: 0,
      commit: 0,
      snapshotIndex: 20,
      snapshot: { meta, offset: 0, data, totalBytes: data.length, done: true },
    }]);
    for (let i = 0; i < 10 && d.appliedIndex < 20; i++) await flush();
    assert.equal(d.appliedIndex, 20);
    assert.deepEqual(told.at(-1), ["a", "f", "x"], `listeners were told ${JSON.stringify(told)}`);
  } finally {
    await d.close();
  }
});
