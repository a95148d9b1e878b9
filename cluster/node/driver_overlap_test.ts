/**
 * What a leader does while one of its Ready's persist (its fsync) still runs: entries proposed
 * meanwhile go to the followers at once, and a commit that followers' answers make applies
 * without waiting for that persist (driver_apply_ahead_test.ts has the edges of applying entries
 * not durable on the leader). A follower applies no entry before it is durable here.
 */

import assert from "node:assert/strict";
import { NodeDriver } from "./driver.ts";
import { EntryKind, type Message } from "../raft/mod.ts";
import { enc, handDriven, ListMachine } from "./_testing_cluster.ts";
import { gatedLeader, gatedLogStorage, settle } from "./_testing_gated.ts";

/** The indexes of the entries in appends sent to `to` since `from` messages were sent. */
function appended(sent: readonly Message[], from: number, to: string): number[] {
  return sent.slice(from).filter((m) => m.type === "append" && m.to === to)
    .flatMap((m) => (m.entries ?? []).map((e) => e.index));
}

Deno.test("NodeDriver: a proposal made while the leader's fsync runs goes to the followers at once", async () => {
  const { d, sent, hold, release, ack } = await gatedLeader();
  hold();
  const x = d.propose(enc("x"), 10_000);
  await settle();
  assert.ok(d.readyLoopRunning, "x's persist waits on the gate");
  const mark = sent.length;
  const y = d.propose(enc("y"), 10_000);
  await settle();
  const yIndex = d.status().lastIndex;
  assert.ok(d.readyLoopRunning, "x's persist still waits");
  assert.deepEqual(appended(sent, mark, "p"), [yIndex], "y's append reached p during the persist");
  assert.deepEqual(appended(sent, mark, "q"), [yIndex], "y's append reached q during the persist");
  release();
  await settle();
  ack("p", yIndex);
  await settle();
  assert.equal((await x).ok, true);
  assert.equal((await y).ok, true);
  await d.close();
});

Deno.test("NodeDriver: during the leader's fsync the gatherer runs only once a follower holds every entry", async () => {
  const { d, sent, hold, release, ack } = await gatedLeader();
  const queue: string[] = [];
  let gathered = 0;
  d.setProposalGatherer(() => {
    if (queue.length === 0) return;
    gathered++;
    void d.propose(enc(queue.splice(0).join(",")), 10_000);
  });
  hold();
  void d.propose(enc("x"), 10_000);
  await settle();
  const xIndex = d.status().lastIndex;
  assert.ok(d.readyLoopRunning, "x's persist waits on the gate");
  const mark = sent.length;
  for (const item of ["a", "b", "c"]) {
    queue.push(item);
    d.wake();
    await settle();
  }
  assert.equal(gathered, 0, "x is in flight to both followers: a, b and c keep queueing");
  assert.deepEqual(appended(sent, mark, "p"), []);
  ack("q", xIndex);
  await settle();
  assert.equal(gathered, 1, "q holds every entry: the queue goes, as one entry");
  assert.deepEqual(appended(sent, mark, "q"), [xIndex + 1]);
  assert.ok(d.readyLoopRunning, "still during x's persist");
  release();
  await settle();
  await d.close();
});

Deno.test("NodeDriver: followers' answers during the leader's fsync apply what they commit, durable here before it or not", async () => {
  const { d, machine, hold, release, ack } = await gatedLeader();
  const x = d.propose(enc("x"), 10_000);
  await settle();
  const xIndex = d.status().lastIndex;
  assert.equal(d.status().stableIndex, xIndex, "x is durable on the leader");
  hold();
  const y = d.propose(enc("y"), 10_000);
  await settle();
  const yIndex = d.status().lastIndex;
  assert.ok(d.readyLoopRunning, "y's persist waits on the gate");
  // p answers x: the leader and p hold it, it is committed and durable here.
  ack("p", xIndex);
  await settle();
  assert.deepEqual(machine.items, ["x"], "x applied while y's persist runs");
  assert.equal((await x).ok, true);
  // Both followers hold y: committed by them alone, but not durable here yet.
  ack("p", yIndex);
  ack("q", yIndex);
  await settle();
  assert.equal(d.status().commit, yIndex, "y is committed by the followers' answers");
  assert.equal(d.status().stableIndex, xIndex, "y is not durable here");
  assert.deepEqual(machine.items, ["x", "y"], "y applied on the followers' commit");
  assert.equal((await y).ok, true, "and answered");
  assert.ok(d.readyLoopRunning, "y's persist still waits on the gate");
  release();
  await settle();
  assert.deepEqual(machine.items, ["x", "y"], "applied once");
  assert.equal(d.status().applied, yIndex);
  await d.close();
});

Deno.test("NodeDriver: a follower applies no entry of a replaced suffix before its replacement is durable", async () => {
  const { storage, gate } = gatedLogStorage();
  const machine = new ListMachine();
  const d = await NodeDriver.open({
    raft: { id: "f", clusterId: "test", electionTicks: 10, heartbeatTicks: 1, random: () => 0.5 },
    bootstrapConf: { voters: ["a", "f", "g"], learners: [] },
    bootstrapUrls: new Map([["a", "http://a"], ["f", "http://f"], ["g", "http://g"]]),
    storage,
    sink: { send: () => {} },
    stateMachine: machine,
    ...handDriven().options,
  });
  await settle();
  const last = d.status().lastIndex;
  const lastTerm = 1;
  const entries = (term: number, tag: string) =>
    [1, 2, 3].map((k) => ({ index: last + k, term, kind: EntryKind.Normal, data: enc(tag + k) }));
  const base = { clusterId: "test", to: "f", logTerm: lastTerm, index: last } as const;
  // Leader a of term 2: three entries, durable here, never committed.
  d.receive([{
    ...base,
    from: "a",
    type: "append",
    term: 2,
    commit: last,
    entries: entries(2, "a"),
  }]);
  await settle();
  assert.equal(d.status().stableIndex, last + 3);
  // Leader g of term 3 replaces them and says they are committed; their write hangs.
  gate.close();
  d.receive([{
    ...base,
    from: "g",
    type: "append",
    term: 3,
    commit: last + 3,
    entries: entries(3, "g"),
  }]);
  await settle();
  assert.ok(d.readyLoopRunning, "the replacing entries' persist waits on the gate");
  assert.deepEqual(machine.items.filter((s) => s.startsWith("g")), [], "nothing applied early");
  gate.open();
  await settle();
  assert.deepEqual(machine.items.filter((s) => /^[ag]\d$/.test(s)), ["g1", "g2", "g3"]);
  await d.close();
});

Deno.test("NodeDriver: a leader deposed during its fsync sends nothing more of its term and applies only the new leader's entries", async () => {
  const { d, sent, machine, hold, release } = await gatedLeader();
  const term = d.status().term;
  const noop = d.status().lastIndex;
  hold();
  const x = d.propose(enc("x"), 10_000);
  await settle();
  assert.ok(d.readyLoopRunning, "x's persist waits on the gate");
  const y = d.propose(enc("y"), 10_000);
  await settle();
  const mark = sent.length;
  // p leads term + 1: its entry replaces x (and y) and is committed.
  d.receive([{
    clusterId: "test",
    from: "p",
    to: "l",
    type: "append",
    term: term + 1,
    index: noop,
    logTerm: term,
    commit: noop + 1,
    entries: [{ index: noop + 1, term: term + 1, kind: EntryKind.Normal, data: enc("p1") }],
  }]);
  assert.equal(d.status().role, "follower");
  // Whatever wakes the driver while x's persist still runs (a proposal, ticks, answers).
  assert.equal((await d.propose(enc("z"), 10_000)).ok, false);
  d.receive([{
    clusterId: "test",
    from: "q",
    to: "l",
    type: "append_resp",
    term,
    index: noop + 2,
    logTerm: 0,
    commit: 0,
  }]);
  await settle();
  assert.ok(d.readyLoopRunning, "x's persist still waits");
  const after = sent.slice(mark);
  assert.deepEqual(after.filter((m) => m.type === "append" || m.term === term), []);
  assert.deepEqual(machine.items, [], "p1 is not durable here yet; x and y never apply");
  assert.equal(after.some((m) => m.type === "append_resp" && !m.reject), false, "no early ack");
  release();
  await settle();
  assert.deepEqual(machine.items, ["p1"]);
  const acked = sent.slice(mark).filter((m) => m.type === "append_resp" && !m.reject);
  assert.deepEqual(acked.map((m) => [m.to, m.term, m.index]), [["p", term + 1, noop + 1]]);
  assert.equal((await x).ok, false, "p1 took x's index");
  await d.close();
  assert.equal((await y).ok, false, "y's index holds nothing yet: failed at close");
});

Deno.test("NodeDriver: closed during a persist, the driver sends and applies nothing more", async () => {
  const { d, sent, machine, hold, release, ack } = await gatedLeader();
  const x = d.propose(enc("x"), 10_000);
  await settle();
  const xIndex = d.status().lastIndex;
  hold();
  const y = d.propose(enc("y"), 10_000);
  await settle();
  const yIndex = d.status().lastIndex;
  assert.ok(d.readyLoopRunning, "y's persist waits on the gate");
  const closing = d.close();
  const mark = sent.length;
  const applied = [...machine.items];
  // What would otherwise go out or apply during the persist: a proposal, answers, ticks.
  void d.propose(enc("z"), 10_000);
  d.wake();
  ack("p", xIndex);
  ack("q", yIndex);
  await settle();
  release();
  await closing;
  await settle();
  assert.deepEqual(sent.slice(mark), []);
  assert.deepEqual(machine.items, applied);
  assert.notEqual((await x).ok, true, "x was never committed");
  assert.equal((await y).ok, false);
});

Deno.test("NodeDriver: a membership change committed during the leader's fsync applies once, in order", async () => {
  const { d, machine, hold, release, ack } = await gatedLeader();
  const cc = d.proposeConfChange({ op: "add_learner", nodeId: "r", context: "http://r" }, 10_000);
  await settle();
  const ccIndex = d.status().lastIndex;
  assert.equal(d.status().stableIndex, ccIndex, "the change is durable on the leader");
  hold();
  const y = d.propose(enc("y"), 10_000);
  await settle();
  const yIndex = d.status().lastIndex;
  assert.ok(d.readyLoopRunning, "y's persist waits on the gate");
  ack("p", ccIndex);
  await settle();
  assert.equal(d.appliedIndex, ccIndex, "the change applied during y's persist");
  assert.equal(d.urls.get("r"), "http://r");
  release();
  await settle();
  ack("p", yIndex);
  await settle();
  assert.equal((await cc).ok, true);
  assert.equal((await y).ok, true);
  const st = d.status();
  assert.equal(st.applied, yIndex);
  assert.deepEqual(st.conf, { voters: ["l", "p", "q"], learners: ["r"] });
  assert.deepEqual(machine.items.slice(-1), ["y"]);
  // The core counted the change applied: the next one is accepted, and applies.
  const rm = d.proposeConfChange({ op: "remove", nodeId: "r" }, 10_000);
  await settle();
  ack("p", d.status().lastIndex);
  await settle();
  assert.equal((await rm).ok, true);
  assert.deepEqual(d.status().conf, { voters: ["l", "p", "q"], learners: [] });
  await d.close();
});
