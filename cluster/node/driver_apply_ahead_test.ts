/**
 * A leader applies entries a majority of its followers committed while its own write of them
 * still runs (dissertation §10.2.1, `RawNode.applyAheadIndex`): a proposal is answered on the
 * commit, not after the commit and the leader's fsync. The edges: a one-node cluster, a single
 * follower's answer (no majority without the leader), a membership change, a snapshot beyond the
 * leader's durable log, the leader's write failing (and its restart), and a step-down.
 */

import assert from "node:assert/strict";
import { NodeDriver } from "./driver.ts";
import { EntryKind } from "../raft/mod.ts";
import { enc, handDriven, ListMachine } from "./_testing_cluster.ts";
import { gatedLeader, gatedLogStorage, settle } from "./_testing_gated.ts";

Deno.test("NodeDriver: a leader applies and answers an entry both followers hold while its own fsync is held", async () => {
  const { d, machine, hold, release, ack } = await gatedLeader();
  const stable = d.status().stableIndex;
  hold();
  let answered = false;
  const x = d.propose(enc("x"), 10_000);
  x.then(() => answered = true);
  await settle();
  const xIndex = d.status().lastIndex;
  assert.ok(d.readyLoopRunning, "x's persist waits on the gate");
  ack("p", xIndex);
  await settle();
  assert.deepEqual(machine.items, [], "p alone: no majority without the leader");
  assert.equal(answered, false);
  ack("q", xIndex);
  await settle();
  assert.equal(d.status().commit, xIndex);
  assert.equal(d.status().stableIndex, stable, "x is still not durable on the leader");
  assert.deepEqual(machine.items, ["x"], "x applied before the leader's fsync ended");
  assert.equal(answered, true, "and answered");
  assert.deepEqual(await x, { ok: true, index: xIndex, result: 1 });
  release();
  await settle();
  assert.equal(d.status().stableIndex, xIndex);
  assert.equal(d.status().applied, xIndex);
  assert.deepEqual(machine.items, ["x"], "applied once");
  await d.close();
});

Deno.test("NodeDriver: a one-node cluster applies nothing before its own fsync", async () => {
  const { storage, gate } = gatedLogStorage();
  const machine = new ListMachine();
  const { options, tick } = handDriven();
  const d = await NodeDriver.open({
    raft: { id: "s", clusterId: "test", electionTicks: 10, heartbeatTicks: 1, random: () => 0 },
    bootstrapConf: { voters: ["s"], learners: [] },
    bootstrapUrls: new Map([["s", "http://s"]]),
    storage,
    sink: { send: () => {} },
    stateMachine: machine,
    ...options,
  });
  for (let i = 0; i < 30 && d.status().role !== "leader"; i++) {
    tick();
    await settle();
  }
  assert.equal(d.status().role, "leader");
  await settle();
  gate.close();
  let answered = false;
  const x = d.propose(enc("x"), 10_000);
  x.then(() => answered = true);
  for (let i = 0; i < 3; i++) {
    tick();
    await settle();
  }
  assert.ok(d.readyLoopRunning, "x's persist waits on the gate");
  assert.deepEqual(machine.items, [], "nothing else holds x: it waits for the fsync");
  assert.equal(answered, false);
  gate.open();
  await settle();
  assert.deepEqual(machine.items, ["x"]);
  assert.equal((await x).ok, true);
  await d.close();
});

Deno.test("NodeDriver: a membership change the followers committed waits for the leader's own fsync, and so does what follows it", async () => {
  const { d, machine, hold, release, ack } = await gatedLeader();
  hold();
  void d.propose(enc("x"), 10_000);
  await settle();
  const cc = d.proposeConfChange({ op: "add_learner", nodeId: "r", context: "http://r" }, 10_000);
  void d.propose(enc("y"), 10_000);
  await settle();
  const yIndex = d.status().lastIndex;
  ack("p", yIndex);
  ack("q", yIndex);
  await settle();
  assert.equal(d.status().commit, yIndex, "x, the change and y are committed");
  assert.deepEqual(machine.items, ["x"], "x applies; the change (not durable here) waits");
  assert.equal(d.urls.get("r"), undefined);
  release();
  await settle();
  assert.equal((await cc).ok, true);
  assert.deepEqual(machine.items, ["x", "y"]);
  assert.equal(d.urls.get("r"), "http://r");
  assert.deepEqual(d.status().conf, { voters: ["l", "p", "q"], learners: ["r"] });
  await d.close();
});

Deno.test("NodeDriver: a snapshot taken beyond the leader's durable log compacts only once the log holds it", async () => {
  const fatal: unknown[] = [];
  // The bootstrap entries (6) and the no-op: the first snapshot is due at the 9th entry.
  const { d, machine, hold, release, ack } = await gatedLeader({
    snapshotEveryEntries: 9,
    onFatal: (e) => void fatal.push(e),
  });
  hold();
  void d.propose(enc("x"), 10_000);
  await settle();
  void d.propose(enc("y"), 10_000); // sent during x's persist; the next Ready persists it
  await settle();
  const yIndex = d.status().lastIndex;
  assert.equal(yIndex, 9);
  ack("p", yIndex);
  ack("q", yIndex);
  await settle();
  assert.deepEqual(machine.items, ["x", "y"], "both applied ahead of the leader's fsync");
  assert.equal(d.snapshotting, false, "the snapshot at y was taken and saved");
  // x's persist ends (y's waits): the core counts y applied while its log is durable to x only.
  release();
  hold();
  await settle();
  assert.equal(d.status().applied, yIndex);
  assert.equal(d.status().stableIndex, yIndex - 1);
  assert.deepEqual(fatal, [], "no compaction past the durable log");
  assert.equal(d.status().firstIndex, 1, "the compaction waits");
  release();
  await settle();
  assert.equal(d.status().stableIndex, yIndex);
  assert.equal(d.status().firstIndex, yIndex + 1, "compacted behind the snapshot at y");
  assert.deepEqual(fatal, []);
  await d.close();
});

Deno.test("NodeDriver: a leader whose write fails after applying ahead stops; restarted, it learns the entry from the new leader", async () => {
  const fatal: unknown[] = [];
  let failing = false;
  const g = await gatedLeader({
    onAppend: () => {
      if (failing) throw new Error("injected write failure");
    },
    onFatal: (e) => void fatal.push(e),
  });
  const { d, machine, hold, release, ack } = g;
  const term = d.status().term;
  const noop = d.status().lastIndex;
  const { x, xIndex } = await heldByFollowersOnly({ d, hold, ack });
  assert.deepEqual(await x, { ok: true, index: xIndex, result: 1 }, "answered: p and q hold x");
  failing = true;
  release();
  await settle();
  assert.equal(fatal.length, 1, "the failed write stops the node");
  assert.deepEqual(machine.items, ["x"]);
  await d.close();
  // The same disk: x never reached it; the state machine (in memory) starts over.
  failing = false;
  const machine2 = new ListMachine();
  const d2 = await NodeDriver.open({
    ...g.options,
    stateMachine: machine2,
    startTicker: () => () => {},
    onFatal: (e) => {
      throw e;
    },
  });
  await settle();
  assert.equal(d2.status().lastIndex, noop, "x is not in the restarted leader's log");
  assert.deepEqual(machine2.items, []);
  // p leads the next term; its log holds x (committed by p and q).
  d2.receive([{
    clusterId: "test",
    from: "p",
    to: "l",
    type: "append",
    term: term + 1,
    index: noop,
    logTerm: term,
    commit: xIndex,
    entries: [{ index: xIndex, term, kind: EntryKind.Normal, data: enc("x") }],
  }]);
  await settle();
  assert.deepEqual(machine2.items, ["x"], "the same state as before the failure");
  await d2.close();
});

Deno.test("NodeDriver: a leader deposed after applying ahead keeps what it applied and applies the new leader's entries once", async () => {
  const { d, machine, hold, release, ack } = await gatedLeader();
  const term = d.status().term;
  const { xIndex } = await heldByFollowersOnly({ d, hold, ack });
  assert.deepEqual(machine.items, ["x"]);
  // p leads term + 1 after x (committed, so in its log) and commits its own entry.
  d.receive([{
    clusterId: "test",
    from: "p",
    to: "l",
    type: "append",
    term: term + 1,
    index: xIndex,
    logTerm: term,
    commit: xIndex + 1,
    entries: [{ index: xIndex + 1, term: term + 1, kind: EntryKind.Normal, data: enc("p1") }],
  }]);
  await settle();
  assert.equal(d.status().role, "follower");
  assert.deepEqual(machine.items, ["x"], "a follower applies p1 only once it is durable here");
  release();
  await settle();
  assert.deepEqual(machine.items, ["x", "p1"]);
  assert.equal(d.status().applied, xIndex + 1);
  await d.close();
});

Deno.test("NodeDriver: a leader that crashes after a snapshot beyond its durable log restarts from that snapshot", async () => {
  let crashed = false;
  const g = await gatedLeader({
    snapshotEveryEntries: 9,
    onAppend: (es) => {
      // The crashed process's writes never happen.
      if (crashed && es[0].index <= 9) throw new Error("the process is gone");
    },
  });
  const { d, machine, hold, release, ack } = g;
  const term = d.status().term;
  hold();
  void d.propose(enc("x"), 10_000);
  await settle();
  void d.propose(enc("y"), 10_000);
  await settle();
  const yIndex = d.status().lastIndex;
  ack("p", yIndex);
  ack("q", yIndex);
  await settle();
  assert.deepEqual(machine.items, ["x", "y"]);
  assert.equal(d.snapshotting, false, "the snapshot at y is saved");
  const saved = await g.storage.snapshots.load();
  assert.equal(saved?.meta.index, yIndex);
  assert.equal(g.storage.log.lastIndex(), yIndex - 2, "neither x nor y reached the log");
  // The process dies here: the held writes never happen.
  crashed = true;
  await d.close();
  release();
  const machine2 = new ListMachine();
  const d2 = await NodeDriver.open({
    ...g.options,
    stateMachine: machine2,
    startTicker: () => () => {},
  });
  await settle();
  const st = d2.status();
  assert.equal(st.firstIndex, yIndex + 1, "the log behind the snapshot is dropped");
  assert.equal(st.lastIndex, yIndex);
  assert.equal(st.commit, yIndex);
  assert.equal(d2.appliedIndex, yIndex);
  assert.deepEqual(machine2.items, ["x", "y"], "the state as applied before the crash");
  // The next leader's entry after y is appended and applied.
  d2.receive([{
    clusterId: "test",
    from: "p",
    to: "l",
    type: "append",
    term: term + 1,
    index: yIndex,
    logTerm: term,
    commit: yIndex + 1,
    entries: [{ index: yIndex + 1, term: term + 1, kind: EntryKind.Normal, data: enc("p1") }],
  }]);
  await settle();
  assert.deepEqual(machine2.items, ["x", "y", "p1"]);
  await d2.close();
});

Deno.test("NodeDriver: a read on a leader that applied ahead sees what it applied (read index is a commit index)", async () => {
  const { d, sent, machine, hold, release, ack } = await gatedLeader();
  const term = d.status().term;
  const { x, xIndex } = await heldByFollowersOnly({ d, hold, ack });
  assert.equal((await x).ok, true, "x applied and answered ahead of the leader's fsync");
  const mark = sent.length;
  const read = d.readIndex(10_000);
  await settle();
  // The read's heartbeat round leaves during the persist; p answers it.
  const hb = sent.slice(mark).find((m) => m.type === "heartbeat" && m.to === "p" && m.context);
  assert.ok(hb !== undefined, "the read's heartbeat went out");
  d.receive([{
    clusterId: "test",
    from: "p",
    to: "l",
    type: "heartbeat_resp",
    term,
    index: 0,
    logTerm: 0,
    commit: 0,
    context: hb.context,
  }]);
  await settle();
  release();
  await settle();
  const out = await read;
  assert.ok(out.ok);
  assert.ok(out.index >= xIndex, `read index ${out.index} covers x at ${xIndex}`);
  assert.ok(d.appliedIndex >= out.index);
  assert.deepEqual(machine.items, ["x"]);
  await d.close();
});

/**
 * Holds the leader's own log write, proposes "x" and has both followers answer for it: x commits
 * (and applies ahead) while it is still not durable on the leader.
 */
async function heldByFollowersOnly(
  g: { d: NodeDriver; hold(): void; ack(from: string, index: number): void },
): Promise<{ x: ReturnType<NodeDriver["propose"]>; xIndex: number }> {
  g.hold();
  const x = g.d.propose(enc("x"), 10_000);
  await settle();
  const xIndex = g.d.status().lastIndex;
  g.ack("p", xIndex);
  g.ack("q", xIndex);
  await settle();
  return { x, xIndex };
}
