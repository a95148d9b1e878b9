import assert from "node:assert/strict";
import { LostLogError } from "./lost_log_error.ts";
import { RawNode } from "./raw_node.ts";
import { NO_NODE } from "./types.ts";

Deno.test("a heartbeat committing past the follower's log throws LostLogError, and commits nothing", () => {
  // A follower that came back empty: a leader counts it holding entries through 8.
  const n = new RawNode({
    id: "n3",
    clusterId: "c1",
    electionTicks: 10,
    heartbeatTicks: 1,
    random: () => 0,
  }, {
    hardState: { term: 0, vote: NO_NODE, commit: 0 },
    bootstrapConf: { voters: ["n1", "n2", "n3"], learners: [] },
    entries: [],
  });
  const heartbeat = {
    type: "heartbeat" as const,
    clusterId: "c1",
    from: "n1",
    to: "n3",
    term: 2,
    logTerm: 0,
    index: 0,
    commit: 8,
  };
  assert.throws(
    () => n.step(heartbeat),
    (e) => e instanceof LostLogError && e.commit === 8 && e.lastIndex === 0 && e.leaderId === "n1",
  );
  assert.equal(n.status().commit, 0);
  // A heartbeat within its log is the ordinary case.
  n.step({ ...heartbeat, commit: 0 });
  assert.equal(n.status().leaderId, "n1");
});
