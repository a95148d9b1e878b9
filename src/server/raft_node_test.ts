import assert from "node:assert/strict";
import type { NodeDriver } from "../../cluster/node/mod.ts";
import type { RaftStatus } from "../../cluster/raft/mod.ts";
import type { EntryClock } from "../broker/mod.ts";
import type { BrokerMachine } from "./broker_machine.ts";
import { RaftNode } from "./raft_node.ts";

/** The parts of a driver `addMember` reads, on a follower that applied n4's add but not its promotion. */
function followerDriver(proposed: unknown[]): NodeDriver {
  const status = {
    id: "n2",
    role: "follower",
    leaderId: "n1",
    conf: { voters: ["n1", "n2", "n3"], learners: ["n4"] },
    progress: {},
    commit: 10,
  } as unknown as RaftStatus;
  return {
    id: "n2",
    urls: new Map([["n1", "http://n1.test"], ["n4", "http://n4.test"]]),
    status: () => status,
    setProposalGatherer: () => {},
    proposeConfChange: (cc: unknown) => {
      proposed.push(cc);
      return Promise.resolve({ ok: false, reason: "not_leader", leaderId: "n1" });
    },
  } as unknown as NodeDriver;
}

Deno.test("RaftNode.addMember on a follower that sees the member as a learner sends the caller to the leader", async () => {
  const proposed: unknown[] = [];
  const node = new RaftNode(followerDriver(proposed), {} as BrokerMachine, {} as EntryClock, {
    memoryStorage: true,
    canAddMembers: true,
  });
  // A retried add whose first answer was lost reached a follower that lags behind the
  // promotion: it must be forwarded (not_leader), never answered unknown_outcome by a follower
  // waiting for a catch-up only the leader can drive (regression_join_test, second run).
  assert.deepEqual(await node.addMember("n4", "http://n4.test"), {
    ok: false,
    reason: "not_leader",
    leaderId: "n1",
    leaderUrl: "http://n1.test",
  });
  assert.deepEqual(proposed, []);
});

/**
 * A leader's driver whose conf changes apply 10 ms after they are proposed, checked then (as the
 * core checks a change against the membership it has when the change comes up).
 */
function leaderDriver(): NodeDriver {
  const conf = { voters: ["n1", "n2", "n3"], learners: [] as string[] };
  const urls = new Map([["n1", "http://n1.test"]]);
  return {
    id: "n1",
    urls,
    status: () => ({ id: "n1", role: "leader", leaderId: "n1", conf, progress: {}, commit: 0 }),
    setProposalGatherer: () => {},
    proposeConfChange: async (cc: { op: string; nodeId: string; context?: string }) => {
      await new Promise((r) => setTimeout(r, 10));
      const member = conf.voters.includes(cc.nodeId) || conf.learners.includes(cc.nodeId);
      if (cc.op === "add_learner" ? member : !conf.learners.includes(cc.nodeId)) {
        const detail = cc.op === "add_learner"
          ? `Cannot add ${cc.nodeId}: it is already a member` // the core's own words
          : `Cannot promote ${cc.nodeId}: it is not a learner`;
        return { ok: false, reason: "rejected", detail };
      }
      if (cc.op === "add_learner") {
        conf.learners.push(cc.nodeId);
        urls.set(cc.nodeId, cc.context!);
      } else {
        conf.learners = conf.learners.filter((l) => l !== cc.nodeId);
        conf.voters.push(cc.nodeId);
      }
      return { ok: true };
    },
  } as unknown as NodeDriver;
}

Deno.test("RaftNode.addMember retried while the first call is under way ends ok, not rejected", async () => {
  const node = new RaftNode(leaderDriver(), {} as BrokerMachine, {} as EntryClock, {
    memoryStorage: true,
    canAddMembers: true,
  });
  const add = () => node.addMember("n4", "http://n4.test");
  // A client retries an add whose answer it did not get in time: the retry comes while the first
  // call's add is in flight (5 ms), or once it is applied and its promotion is in flight (15 ms).
  const first = add();
  const whileAdding = new Promise((r) => setTimeout(r, 5)).then(add);
  const whilePromoting = new Promise((r) => setTimeout(r, 15)).then(add);
  assert.deepEqual(await Promise.all([first, whileAdding, whilePromoting]), [
    { ok: true },
    { ok: true },
    { ok: true },
  ]);
  // A different URL for the same id is still refused.
  assert.equal((await node.addMember("n4", "http://elsewhere.test")).ok, false);
});

Deno.test("RaftNode tells of a client's write or read on a follower, not on a leader", async () => {
  for (const leading of [false, true]) {
    let told = 0;
    const driver = {
      ...followerDriver([]),
      leading,
      readIndex: () => Promise.resolve({ ok: true }),
    } as unknown as NodeDriver;
    const node = new RaftNode(driver, {} as BrokerMachine, {} as EntryClock, {
      memoryStorage: true,
      canAddMembers: true,
      onFollowerClient: () => told++,
    });
    node.leaderToAsk();
    if (!leading) await node.propose({} as never, { timeoutMs: 1_000 });
    await node.readBarrier({ timeoutMs: 1_000 });
    // Each tells the node's fsync policy (ClientAwareBlocking) that a client is served here.
    assert.equal(told, leading ? 0 : 3);
  }
});
