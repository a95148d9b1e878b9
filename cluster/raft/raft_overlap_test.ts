/**
 * What a RawNode hands out while a Ready is outstanding (its persist running): `takeMessages`
 * (a leader's appends of entries proposed meanwhile) and `takeCommittedStable` (committed entries
 * that were durable before that Ready). See the persistence contract in raw_node.ts.
 */

import assert from "node:assert/strict";
import { bytes } from "./_testing_network.ts";
import { RawNode } from "./raw_node.ts";
import { type Message, NO_NODE, type Ready } from "./types.ts";

function msg(m: Partial<Message> & Pick<Message, "type" | "from" | "to" | "term">): Message {
  return { clusterId: "c1", logTerm: 0, index: 0, commit: 0, ...m };
}

/** n1, leader of n1..n3 in term 1, its no-op durable, acknowledged by both and applied. */
function leader(): RawNode {
  const n = new RawNode({
    id: "n1",
    clusterId: "c1",
    electionTicks: 10,
    heartbeatTicks: 1,
    random: () => 0,
    preVote: false,
  }, {
    hardState: { term: 0, vote: NO_NODE, commit: 0 },
    bootstrapConf: { voters: ["n1", "n2", "n3"], learners: [] },
    entries: [],
  });
  for (let i = 0; i < 10; i++) n.tick();
  n.advance(n.ready());
  n.step(msg({ type: "vote_resp", from: "n2", to: "n1", term: 1 }));
  assert.equal(n.status().role, "leader");
  n.advance(n.ready()); // the no-op, persisted
  ack(n, "n2", 1);
  ack(n, "n3", 1);
  n.advance(n.ready()); // the no-op, applied
  assert.equal(n.status().applied, 1);
  return n;
}

function ack(n: RawNode, from: string, index: number): void {
  n.step(msg({ type: "append_resp", from, to: "n1", term: 1, index }));
}

const indexes = (rd: Ready | { entries?: readonly { index: number }[] }) =>
  (rd.entries ?? []).map((e) => e.index);

Deno.test("RawNode.takeMessages: a proposal made during a persist is sent at once, persisted by the next Ready", () => {
  const n = leader();
  n.propose(bytes("x"));
  const rd = n.ready();
  assert.deepEqual(indexes(rd), [2]);
  n.propose(bytes("y"));
  const early = n.takeMessages();
  const appends = early.filter((m) => m.type === "append");
  assert.deepEqual(appends.map((m) => m.to).sort(), ["n2", "n3"]);
  assert.deepEqual(appends.map((m) => indexes(m)), [[3], [3]]);
  assert.equal(n.status().stableIndex, 1, "x and y are not durable yet");
  n.advance(rd);
  assert.equal(n.status().stableIndex, 2);
  const next = n.ready();
  assert.deepEqual(indexes(next), [3], "y is persisted by the next Ready");
  assert.equal(next.messages.filter((m) => m.type === "append").length, 0, "y is not sent twice");
});

Deno.test("RawNode.takeCommittedStable: a commit made by answers during a persist hands out only stable entries", () => {
  const n = leader();
  n.propose(bytes("x"));
  n.advance(n.ready()); // x durable, not committed
  n.propose(bytes("y"));
  const rd = n.ready(); // y's persist runs
  assert.deepEqual(indexes(rd), [3]);
  assert.deepEqual(n.takeCommittedStable(), [], "nothing committed yet");
  ack(n, "n2", 2);
  assert.deepEqual(n.takeCommittedStable().map((e) => e.index), [2], "x: committed and stable");
  assert.deepEqual(n.takeCommittedStable(), [], "handed out once");
  // Both followers hold y: committed without the leader, but y is not durable here.
  ack(n, "n2", 3);
  ack(n, "n3", 3);
  assert.equal(n.status().commit, 3);
  assert.deepEqual(n.takeCommittedStable(), [], "y waits for its persist");
  n.advance(rd);
  assert.equal(n.status().applied, 2, "x counted applied at advance");
  const next = n.ready();
  assert.deepEqual(next.committedEntries.map((e) => e.index), [3], "y, not x again");
  n.advance(next);
  assert.equal(n.status().applied, 3);
});

Deno.test("RawNode.takeCommittedStable: nothing without an outstanding Ready", () => {
  const n = leader();
  n.propose(bytes("x"));
  n.advance(n.ready());
  ack(n, "n2", 2);
  assert.deepEqual(n.takeCommittedStable(), []);
  assert.deepEqual(n.ready().committedEntries.map((e) => e.index), [2]);
});

Deno.test("RawNode.followerCaughtUp: true while a follower voter holds every entry of the leader", () => {
  const n = leader();
  assert.equal(n.followerCaughtUp, true, "both hold the no-op");
  n.propose(bytes("x"));
  assert.equal(n.followerCaughtUp, false, "x is in flight to both");
  ack(n, "n3", 2);
  assert.equal(n.followerCaughtUp, true, "n3 holds x");
  n.propose(bytes("y"));
  assert.equal(n.followerCaughtUp, false);
});

Deno.test("RawNode.takeCommittedAhead: a leader hands out what a majority of followers committed while its own persist runs", () => {
  const n = leader();
  n.propose(bytes("x"));
  const rd = n.ready(); // x's persist runs
  n.propose(bytes("y")); // sent meanwhile, persisted by the next Ready
  assert.deepEqual(n.takeMessages().filter((m) => m.type === "append").length, 2);
  ack(n, "n2", 3);
  assert.equal(n.applyAheadIndex, 1, "n2 alone: no majority without the leader");
  assert.deepEqual(n.takeCommittedAhead(), []);
  ack(n, "n3", 3);
  assert.equal(n.status().commit, 3);
  assert.equal(n.status().stableIndex, 1, "neither x nor y durable here");
  assert.deepEqual(n.takeCommittedStable(), [], "not stable");
  assert.equal(n.applyAheadIndex, 3);
  assert.deepEqual(n.takeCommittedAhead().map((e) => e.index), [2, 3]);
  assert.deepEqual(n.takeCommittedAhead(), [], "handed out once");
  n.advance(rd);
  assert.equal(n.status().applied, 3, "counted applied at advance");
  assert.equal(n.status().stableIndex, 2, "y is not durable yet");
  const next = n.ready();
  assert.deepEqual(indexes(next), [3], "y is persisted by the next Ready");
  assert.deepEqual(next.committedEntries, [], "and not applied again");
  n.advance(next);
  assert.equal(n.status().stableIndex, 3);
});

Deno.test("RawNode.applyAheadIndex: not past a membership change that is not stable here", () => {
  const n = leader();
  n.propose(bytes("x"));
  assert.equal(
    n.proposeConfChange({ op: "add_learner", nodeId: "n4", context: "u" }).ok,
    true,
  );
  n.propose(bytes("y"));
  const rd = n.ready();
  assert.deepEqual(indexes(rd), [2, 3, 4]);
  ack(n, "n2", 4);
  ack(n, "n3", 4);
  assert.equal(n.status().commit, 4);
  assert.equal(n.applyAheadIndex, 2, "x; the change at 3 and y after it wait");
  assert.deepEqual(n.takeCommittedAhead().map((e) => e.index), [2]);
  n.advance(rd);
  assert.equal(n.applyAheadIndex, 4, "all stable now");
  assert.deepEqual(n.ready().committedEntries.map((e) => e.index), [3, 4]);
});

Deno.test("RawNode.applyAheadIndex: a follower's is its stable commit", () => {
  const n = new RawNode({
    id: "n2",
    clusterId: "c1",
    electionTicks: 10,
    heartbeatTicks: 1,
    random: () => 0,
  }, {
    hardState: { term: 1, vote: NO_NODE, commit: 0 },
    bootstrapConf: { voters: ["n1", "n2", "n3"], learners: [] },
    entries: [],
  });
  const e = (index: number) => ({ index, term: 1, kind: 0 as const, data: bytes(`e${index}`) });
  n.step(msg({ type: "append", from: "n1", to: "n2", term: 1, commit: 2, entries: [e(1), e(2)] }));
  const rd = n.ready();
  assert.equal(n.status().commit, 2);
  assert.equal(n.applyAheadIndex, 0, "nothing durable here yet");
  assert.deepEqual(n.takeCommittedAhead(), []);
  n.advance(rd);
  assert.equal(n.applyAheadIndex, 2);
});
