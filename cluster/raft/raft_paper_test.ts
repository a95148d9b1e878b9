/**
 * One test per rule of the Raft paper (§5), in the manner of etcd's raft_paper_test.go.
 */

import assert from "node:assert/strict";
import { bytes, Network } from "./_testing_network.ts";
import { RawNode } from "./raw_node.ts";
import { EntryKind, type Message, NO_NODE, type RaftConfig } from "./types.ts";

const base = (id: string, random = () => 0): RaftConfig => ({
  id,
  clusterId: "c1",
  electionTicks: 10,
  heartbeatTicks: 1,
  random,
});

function msg(m: Partial<Message> & Pick<Message, "type" | "from" | "to" | "term">): Message {
  return { clusterId: "c1", logTerm: 0, index: 0, commit: 0, ...m };
}

function fresh(id: string, voters = ["n1", "n2", "n3"], cfg: Partial<RaftConfig> = {}): RawNode {
  return new RawNode({ ...base(id), ...cfg }, {
    hardState: { term: 0, vote: NO_NODE, commit: 0 },
    bootstrapConf: { voters, learners: [] },
    entries: [],
  });
}

Deno.test("§5.1 a follower seeing a higher term adopts it and stays/becomes follower", () => {
  const n = fresh("n1");
  n.step(msg({ type: "heartbeat", from: "n2", to: "n1", term: 5 }));
  const st = n.status();
  assert.equal(st.term, 5);
  assert.equal(st.role, "follower");
  assert.equal(st.leaderId, "n2");
});

Deno.test("§5.1 a leader seeing a higher term steps down to follower", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  const term = net.node("n1").status().term;
  net.node("n1").step(msg({ type: "append_resp", from: "n2", to: "n1", term: term + 1 }));
  assert.equal(net.node("n1").status().role, "follower");
  assert.equal(net.node("n1").status().term, term + 1);
});

Deno.test("§5.1 a message with a stale term is ignored", () => {
  const n = fresh("n1");
  n.step(msg({ type: "heartbeat", from: "n2", to: "n1", term: 3 }));
  n.step(msg({ type: "append", from: "n3", to: "n1", term: 2, entries: [] }));
  assert.equal(n.status().leaderId, "n2");
  assert.equal(n.status().term, 3);
});

Deno.test("§5.2 a follower starts an election after a randomized timeout in [et, 2et)", () => {
  for (const [r, want] of [[0, 10], [0.55, 15], [0.99, 19]] as const) {
    const n = fresh("n1", ["n1", "n2", "n3"], { random: () => r, preVote: false });
    let ticks = 0;
    while (n.status().role === "follower" && ticks < 100) {
      n.tick();
      ticks++;
    }
    assert.equal(ticks, want, `random ${r}`);
    assert.equal(n.status().role, "candidate");
    assert.equal(n.status().term, 1);
    assert.equal(n.status().vote, "n1");
  }
});

Deno.test("§5.2 a candidate sends vote requests with its last log index and term", () => {
  const n = fresh("n1", ["n1", "n2", "n3"], { preVote: false });
  for (let i = 0; i < 10; i++) n.tick();
  const rd = n.ready();
  const votes = rd.messages.filter((m) => m.type === "vote");
  assert.deepEqual(votes.map((m) => m.to).sort(), ["n2", "n3"]);
  for (const v of votes) assert.equal(v.term, 1);
  assert.deepEqual(rd.hardState, { term: 1, vote: "n1", commit: 0 });
});

Deno.test("§5.2 a candidate with a majority of votes becomes leader", () => {
  const net = new Network(["n1", "n2", "n3", "n4", "n5"]);
  net.isolate("n4");
  net.isolate("n5");
  net.elect("n1");
  assert.equal(net.node("n1").status().role, "leader");
  assert.deepEqual(net.leaders(), ["n1"]);
});

Deno.test("§5.2 a candidate without a majority does not win and times out again", () => {
  const net = new Network(["n1", "n2", "n3"], { config: { preVote: false } });
  net.isolate("n1");
  for (let i = 0; i < 45; i++) {
    net.tick("n1");
    net.settle();
  }
  const st = net.node("n1").status();
  assert.equal(st.role, "candidate");
  assert.ok(st.term >= 2, `term ${st.term} should have grown with each timeout`);
});

Deno.test("§5.2 each node grants at most one vote per term (first come first served)", () => {
  const n = fresh("n1");
  n.step(msg({ type: "vote", from: "n2", to: "n1", term: 1 }));
  n.step(msg({ type: "vote", from: "n3", to: "n1", term: 1 }));
  const rd = n.ready();
  const resps = rd.messagesAfterPersist.filter((m) => m.type === "vote_resp");
  assert.deepEqual(resps.map((m) => [m.to, m.reject === true]), [["n2", false], ["n3", true]]);
  assert.equal(rd.hardState?.vote, "n2");
});

Deno.test("§5.2 split vote: nobody wins, then randomized timeouts elect exactly one leader", () => {
  const net = new Network(["n1", "n2", "n3", "n4"], { config: { preVote: false } });
  // n1 and n2 campaign in the same term; each gets one other vote: 2 of 4 is no majority.
  net.cuts.add("n3>n2").add("n2>n3").add("n4>n1").add("n1>n4");
  for (const id of ["n1", "n2"]) {
    for (let i = 0; i < 30 && net.node(id).status().role === "follower"; i++) net.tick(id);
    assert.equal(net.node(id).status().role, "candidate");
  }
  net.settle();
  assert.equal(net.leaders().length, 0);
  net.heal();
  net.tickAll(60);
  assert.equal(net.leaders().length, 1);
});

Deno.test("§5.2 a candidate that hears from a leader of its term becomes follower", () => {
  const n = fresh("n1", ["n1", "n2", "n3"], { preVote: false });
  n.tick();
  for (let i = 0; i < 20; i++) n.tick();
  assert.equal(n.status().role, "candidate");
  const t = n.status().term;
  n.step(msg({ type: "heartbeat", from: "n2", to: "n1", term: t }));
  assert.equal(n.status().role, "follower");
  assert.equal(n.status().leaderId, "n2");
});

Deno.test("§5.3 the leader replicates entries and applies them once committed", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.propose("n1", "a", "b", "c");
  for (const id of ["n1", "n2", "n3"]) {
    net.tickAll(1); // a heartbeat carries the commit index to followers
    assert.deepEqual(net.sim(id).app, ["a", "b", "c"], id);
  }
});

Deno.test("§5.3 a follower rejects an append whose prevLogIndex/prevLogTerm does not match", () => {
  const n = fresh("n2");
  n.step(msg({
    type: "append",
    from: "n1",
    to: "n2",
    term: 2,
    index: 5,
    logTerm: 2,
    entries: [{ term: 2, index: 6, kind: EntryKind.Normal, data: bytes("x") }],
  }));
  const rd = n.ready();
  const resp = rd.messagesAfterPersist.find((m) => m.type === "append_resp")!;
  assert.equal(resp.reject, true);
  assert.equal(resp.index, 5);
  assert.equal(resp.rejectHint, 0);
  assert.equal(rd.entries.length, 0);
});

Deno.test("§5.3 a conflicting follower suffix is replaced; a stale append truncates nothing", () => {
  const n = fresh("n2");
  const e = (index: number, term: number) => ({
    term,
    index,
    kind: EntryKind.Normal,
    data: bytes(`${index}@${term}`),
  });
  n.step(
    msg({ type: "append", from: "n1", to: "n2", term: 1, entries: [e(1, 1), e(2, 1), e(3, 1)] }),
  );
  n.advance(n.ready());
  // A stale, reordered copy of the first append: nothing to truncate.
  n.step(msg({ type: "append", from: "n1", to: "n2", term: 1, entries: [e(1, 1)] }));
  let rd = n.ready();
  assert.equal(rd.entries.length, 0);
  assert.equal(n.status().lastIndex, 3);
  n.advance(rd);
  // A new leader at term 2 whose log diverges at index 3.
  n.step(
    msg({
      type: "append",
      from: "n3",
      to: "n2",
      term: 2,
      index: 2,
      logTerm: 1,
      entries: [e(3, 2)],
    }),
  );
  rd = n.ready();
  assert.deepEqual(rd.entries.map((x) => [x.index, x.term]), [[3, 2]]);
  assert.equal(rd.messagesAfterPersist.find((m) => m.type === "append_resp")?.index, 3);
  n.advance(rd);
});

Deno.test("§5.3 fast back-off: the leader finds the match point in few round trips", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.propose("n1", ...Array.from({ length: 50 }, (_, i) => `a${i}`));
  // n3 misses 200 entries, then rejoins: back-off must not walk back one entry per round trip.
  net.isolate("n3");
  net.propose("n1", ...Array.from({ length: 200 }, (_, i) => `b${i}`));
  net.heal();
  net.delivered = [];
  net.tickAll(3);
  const rejects = net.delivered.filter((m) => m.type === "append_resp" && m.reject);
  assert.ok(rejects.length <= 2, `${rejects.length} rejections`);
  assert.equal(net.sim("n3").app.length, 250);
});

Deno.test("§5.4.1 election restriction: a voter rejects a candidate whose log is behind", () => {
  const n = fresh("n1", ["n1", "n2", "n3"], { checkQuorum: false });
  n.step(msg({
    type: "append",
    from: "n2",
    to: "n1",
    term: 2,
    entries: [{ term: 2, index: 1, kind: EntryKind.Normal, data: bytes("x") }],
  }));
  n.advance(n.ready());
  // Same term but shorter log; then an older last term with a longer log: both rejected.
  n.step(msg({ type: "vote", from: "n3", to: "n1", term: 3, index: 0, logTerm: 0 }));
  n.step(msg({ type: "vote", from: "n3", to: "n1", term: 4, index: 5, logTerm: 1 }));
  let rd = n.ready();
  assert.deepEqual(rd.messagesAfterPersist.map((m) => m.reject), [true, true]);
  n.advance(rd);
  n.step(msg({ type: "vote", from: "n3", to: "n1", term: 5, index: 1, logTerm: 2 }));
  rd = n.ready();
  assert.deepEqual(rd.messagesAfterPersist.map((m) => m.reject ?? false), [false]);
});

Deno.test("§5.4.2 a new leader commits its no-op, which commits the older entries with it", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.isolate("n3");
  net.propose("n1", "old");
  net.crash("n1");
  net.heal();
  net.elect("n2");
  net.tickAll(2);
  const st = net.node("n2").status();
  const noop = st.lastIndex;
  assert.equal(st.commit, noop);
  assert.deepEqual(net.sim("n3").app, ["old"]);
});

/**
 * Raft Figure 8, built by hand: an entry of an older term replicated to a majority by a later
 * leader and then overwritten. Returns the safety violations observed (an assertion thrown by a
 * node or two nodes applying different entries at one index).
 */
function figure8(unsafe: boolean): string[] {
  const net = new Network(["n1", "n2", "n3", "n4", "n5"], {
    config: {
      preVote: false,
      checkQuorum: false,
      maxAppendBytes: 1, // one entry per append, so the filter can split them
      ...(unsafe ? { unsafeTestFaults: { commitOlderTermEntriesByCount: true } } : {}),
    },
  });
  try {
    net.elect("n1");
    // (a) n1 replicates X only to n2.
    for (const id of ["n3", "n4", "n5"]) net.cuts.add(`n1>${id}`).add(`${id}>n1`);
    net.propose("n1", "X");
    net.crash("n1");
    net.heal();
    // (b) n5 wins with n3, n4 and appends its no-op nowhere else.
    net.filter = (m) => !(m.from === "n5" && m.type === "append");
    net.elect("n5");
    net.crash("n5");
    // (c) n1 returns, leads a later term, replicates X to n3 but not its own no-op.
    net.filter = (m) => !(m.from === "n1" && m.to === "n4" && m.type === "append");
    net.rewrite = (m) => {
      if (m.from !== "n1" || m.to !== "n3" || m.type !== "append") return m;
      const t = net.node("n1").status().term;
      return { ...m, entries: (m.entries ?? []).filter((e) => e.term !== t) };
    };
    net.restart("n1");
    net.elect("n1");
    net.tickAll(3);
    // (d) n1 crashes; n5 returns and wins with n3, n4 (its last term is newer than X's).
    net.crash("n1");
    net.filter = () => true;
    net.rewrite = (m) => m;
    net.restart("n5");
    net.elect("n5");
    net.tickAll(3);
  } catch (e) {
    return [(e as Error).message];
  }
  return net.appliedConflicts();
}

Deno.test("§5.4.2 Figure 8: counting replicas of an older term's entry loses a committed entry", () => {
  const violations = figure8(true);
  // X (index 2, term 1) was applied by the old leader, then overwritten by n5's entry of term 2.
  assert.ok(violations.some((v) => v.startsWith("index 2: ")), violations.join("; "));
});

Deno.test("§5.4.2 Figure 8: the commit rule keeps the same schedule safe", () => {
  assert.deepEqual(figure8(false), []);
});

Deno.test("§5.3 replication: at most maxInflightMessages appends in flight to a follower", () => {
  const net = new Network(["n1", "n2", "n3"], {
    config: { maxInflightMessages: 2, maxAppendBytes: 1 },
  });
  net.elect("n1");
  net.filter = (m) => !(m.type === "append_resp" && m.from === "n2"); // n2's acks are lost
  net.delivered = [];
  for (let i = 0; i < 10; i++) net.node("n1").propose(bytes(`x${i}`));
  net.settle();
  const toN2 = net.delivered.filter((m) => m.type === "append" && m.to === "n2");
  const toN3 = net.delivered.filter((m) => m.type === "append" && m.to === "n3");
  assert.equal(toN2.length, 2);
  assert.ok(toN3.length >= 10, "n3 acks, so the leader keeps sending one entry per append");
  for (const m of toN3) assert.ok((m.entries?.length ?? 0) <= 1, "maxAppendBytes bounds appends");
  for (const m of net.delivered) assert.equal(m.clusterId, "c1");
});

Deno.test("§5.3 proposals made before a Ready go to each follower in one append", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  for (let i = 0; i < 20; i++) net.node("n1").propose(bytes(`b${i}`));
  const rd = net.node("n1").ready();
  const appends = rd.messages.filter((m) => m.type === "append");
  assert.deepEqual(appends.map((m) => [m.to, m.entries?.length]).sort(), [["n2", 20], ["n3", 20]]);
  net.node("n1").advance(rd);
});

Deno.test("§5.3 heartbeats carry min(match, commit) so a lagging follower never over-commits", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.isolate("n3");
  net.propose("n1", "a", "b", "c");
  net.heal();
  net.filter = (m) => m.type !== "append";
  net.delivered = [];
  net.tickAll(1);
  const hb = net.delivered.find((m) => m.type === "heartbeat" && m.to === "n3")!;
  const st = net.node("n1").status();
  assert.equal(hb.commit, st.progress["n3"].match);
  assert.ok(hb.commit < st.commit);
});

Deno.test("§5.4 a leader refuses an append ack beyond its own log: two leaders' logs", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  const leader = net.node("n1");
  const { term, lastIndex } = leader.status();
  assert.throws(
    () =>
      leader.step(msg({ type: "append_resp", from: "n2", to: "n1", term, index: lastIndex + 5 })),
    /Election safety violated: n2 acknowledged index/,
  );
});
