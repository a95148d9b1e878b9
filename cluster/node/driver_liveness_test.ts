/**
 * A slow persist (a follower saving a leader's 360 MB snapshot, or a slow fsync) must not silence
 * the node: the messages that do not depend on persistence (heartbeat answers, a leader's
 * heartbeats) leave while it runs, or the leader's check-quorum and the followers' election
 * timers read a busy disk as a dead node.
 */

import assert from "node:assert/strict";
import { NodeDriver } from "./driver.ts";
import type { StoragePorts } from "./ports.ts";
import { EntryKind, type Message } from "../raft/mod.ts";
import { handDriven, ListMachine } from "./_testing_cluster.ts";
import { electByHand, gatedLogStorage, settle } from "./_testing_gated.ts";
import { MemoryHardStateStore, MemoryLogStore, MemorySnapshotStore } from "../storage/mod.ts";

const flush = () => new Promise((r) => setTimeout(r, 0));

/** Memory storage whose hard-state saves wait while the gate is closed. */
function gatedStorage() {
  let waiting: Promise<void> | undefined;
  let release = () => {};
  const hard = new MemoryHardStateStore();
  const storage: StoragePorts = {
    log: new MemoryLogStore(),
    hardState: {
      load: () => hard.load(),
      save: async (hs) => {
        if (waiting) await waiting;
        await hard.save(hs);
      },
    },
    snapshots: new MemorySnapshotStore(),
  };
  const gate = {
    close: () => void (waiting = new Promise((resolve) => release = resolve)),
    open: () => {
      release();
      waiting = undefined;
    },
  };
  return { storage, gate };
}

Deno.test("NodeDriver: heartbeat answers leave while a Ready's persist is still running", async () => {
  const { storage, gate } = gatedStorage();
  const sent: Message[] = [];
  const d = await NodeDriver.open({
    raft: { id: "f", clusterId: "test", electionTicks: 10, heartbeatTicks: 1, random: () => 0.5 },
    bootstrapConf: { voters: ["a", "f"], learners: [] },
    bootstrapUrls: new Map([["a", "http://a"], ["f", "http://f"]]),
    storage,
    sink: { send: (msgs) => void sent.push(...msgs) },
    stateMachine: new ListMachine(),
    ...handDriven().options,
  });
  await flush();
  const from = { clusterId: "test", from: "a", to: "f" } as const;
  d.receive([{
    ...from,
    term: 2,
    type: "append",
    logTerm: 1,
    index: 4,
    commit: 4,
    entries: [{ index: 5, term: 2, kind: EntryKind.Normal, data: new Uint8Array() }],
  }]);
  for (let i = 0; i < 5; i++) await flush();
  // A new term must be saved before anything is answered at it: this Ready's persist waits.
  gate.close();
  d.receive([{ ...from, term: 3, type: "heartbeat", logTerm: 0, index: 0, commit: 5 }]);
  for (let i = 0; i < 5; i++) await flush();
  assert.ok(d.readyLoopRunning, "the Ready's persist waits on the gate");
  const answers = () => sent.filter((m) => m.type === "heartbeat_resp").length;
  const before = answers();
  for (let k = 1; k <= 3; k++) {
    d.receive([{ ...from, term: 3, type: "heartbeat", logTerm: 0, index: 0, commit: 5 }]);
    for (let i = 0; i < 3; i++) await flush();
    assert.equal(answers(), before + k, `heartbeat ${k} answered while the persist runs`);
  }
  assert.ok(d.readyLoopRunning, "still persisting");
  gate.open();
  for (let i = 0; i < 5; i++) await flush();
  assert.equal(d.status().term, 3);
  await d.close();
});

Deno.test("NodeDriver: a leader's heartbeats leave while its entries' persist is still running", async () => {
  const { storage, gate } = gatedLogStorage();
  const sent: Message[] = [];
  const { options, tick } = handDriven();
  const d = await NodeDriver.open({
    raft: { id: "l", clusterId: "test", electionTicks: 10, heartbeatTicks: 1, random: () => 0 },
    bootstrapConf: { voters: ["l", "p"], learners: [] },
    bootstrapUrls: new Map([["l", "http://l"], ["p", "http://p"]]),
    storage,
    sink: { send: (msgs) => void sent.push(...msgs) },
    stateMachine: new ListMachine(),
    ...options,
  });
  // Campaign: pre-vote, then vote, each granted by p by hand.
  await electByHand(d, sent, tick, settle);
  assert.equal(d.status().role, "leader");
  // Its next entries' persist waits: ticks meanwhile must still send heartbeats to p.
  gate.close();
  void d.propose(new TextEncoder().encode("x"), 10_000);
  await settle();
  assert.ok(d.readyLoopRunning, "the entries' persist waits on the gate");
  const beats = () => sent.filter((m) => m.type === "heartbeat" && m.to === "p").length;
  const before = beats();
  for (let k = 1; k <= 3; k++) {
    tick();
    await settle();
    assert.equal(beats(), before + k, `tick ${k} sent a heartbeat while the persist runs`);
  }
  gate.open();
  await settle();
  await d.close();
});
