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
