/**
 * `deferCommitNotice`: the leader does not send a commit alone; the next append or heartbeat, or
 * `sendCommit`, carries it. The leader itself commits and applies as before.
 */

import assert from "node:assert/strict";
import { Network } from "./_testing_network.ts";

const FOLLOWERS = ["n2", "n3"];

function cluster(defer: boolean): Network {
  const net = new Network(["n1", "n2", "n3"], { config: { deferCommitNotice: defer } });
  net.elect("n1");
  // Every node learns the no-op's commit, so each case starts from the same state.
  net.tickAll(1);
  return net;
}

/** The application of `id` (what it applied). */
const app = (net: Network, id: string) => net.sim(id).app;

/** Proposes `data` on n1 and settles; returns the messages delivered meanwhile. */
function round(net: Network, data: string) {
  const from = net.delivered.length;
  net.propose("n1", data);
  return net.delivered.slice(from);
}

Deno.test("without deferCommitNotice the commit goes to the followers at once (etcd)", () => {
  const net = cluster(false);
  const msgs = round(net, "a");
  for (const id of FOLLOWERS) assert.deepEqual(app(net, id), ["a"]);
  // An append with the entry and one with the commit alone, each answered, per follower.
  assert.equal(msgs.filter((m) => m.type === "append").length, 4);
  assert.equal(msgs.filter((m) => m.type === "append_resp").length, 4);
});

Deno.test("with deferCommitNotice the next proposal's append carries the commit", () => {
  const net = cluster(true);
  const msgs = round(net, "a");
  assert.deepEqual(app(net, "n1"), ["a"]);
  assert.equal(net.node("n1").commitUnsent, true);
  for (const id of FOLLOWERS) assert.deepEqual(app(net, id), []);
  // Half the messages: one append per follower, one answer each.
  assert.equal(msgs.filter((m) => m.type === "append").length, 2);
  assert.equal(msgs.filter((m) => m.type === "append_resp").length, 2);

  const next = round(net, "b");
  for (const m of next.filter((m) => m.type === "append")) {
    assert.equal(m.commit, net.node("n1").status().commit - 1, "the commit of 'a' rides along");
  }
  assert.deepEqual(app(net, "n1"), ["a", "b"]);
  for (const id of FOLLOWERS) assert.deepEqual(app(net, id), ["a"]);
});

Deno.test("with deferCommitNotice sendCommit sends a held commit, once", () => {
  const net = cluster(true);
  round(net, "a");
  const from = net.delivered.length;
  net.node("n1").sendCommit();
  net.settle();
  for (const id of FOLLOWERS) assert.deepEqual(app(net, id), ["a"]);
  assert.equal(net.node("n1").commitUnsent, false);
  const sent = net.delivered.slice(from).filter((m) => m.type === "append");
  assert.deepEqual(sent.map((m) => m.to).sort(), FOLLOWERS);
  for (const m of sent) assert.equal(m.entries?.length ?? 0, 0);

  // Nothing held: nothing to send.
  const again = net.delivered.length;
  net.node("n1").sendCommit();
  net.settle();
  assert.equal(net.delivered.length, again);
});

Deno.test("with deferCommitNotice the next heartbeat carries a held commit", () => {
  const net = cluster(true);
  round(net, "a");
  net.tick("n1");
  net.settle();
  assert.equal(net.node("n1").commitUnsent, false);
  for (const id of FOLLOWERS) assert.deepEqual(app(net, id), ["a"]);
});

Deno.test("with deferCommitNotice a heartbeat leaves the commit held for a follower whose answer is late", () => {
  const net = cluster(true);
  net.filter = (m) => !(m.type === "append_resp" && m.from === "n3");
  round(net, "a");
  net.filter = () => true;
  net.tick("n1");
  // n3 holds the entry, but the leader has not heard so: its heartbeat carries an older commit,
  // so the commit stays held (the notice will send it).
  assert.equal(net.node("n1").commitUnsent, true);
  net.node("n1").sendCommit();
  net.settle();
  assert.equal(net.node("n1").commitUnsent, false);
  for (const id of FOLLOWERS) assert.deepEqual(app(net, id), ["a"]);
});

Deno.test("with deferCommitNotice a follower's read sees the commit its read index needs", () => {
  const net = cluster(true);
  round(net, "a");
  net.node("n2").readIndex(new TextEncoder().encode("r1"));
  net.settle();
  const rs = net.sim("n2").readStates;
  assert.equal(rs.length, 1);
  // The read's heartbeat round carried the commit: the follower can serve the read once it
  // applied up to the read index, which it did.
  assert.ok(net.sim("n2").appliedIndex >= rs[0].index);
  assert.deepEqual(app(net, "n2"), ["a"]);
});

Deno.test("a leader that steps down holds no commit to send", () => {
  const net = cluster(true);
  round(net, "a");
  assert.equal(net.node("n1").commitUnsent, true);
  const term = net.node("n1").status().term;
  net.node("n1").step({
    type: "append_resp",
    clusterId: "c1",
    from: "n2",
    to: "n1",
    term: term + 1,
    logTerm: 0,
    index: 0,
    commit: 0,
  });
  assert.equal(net.node("n1").status().role, "follower");
  assert.equal(net.node("n1").commitUnsent, false);
  const n1 = net.node("n1");
  n1.advance(n1.ready()); // its step down

  n1.sendCommit();
  assert.equal(n1.hasReady(), false);
});
