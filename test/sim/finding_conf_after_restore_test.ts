/**
 * FINDINGS.md #5 (fixed in cluster/raft/raw_node.ts `advance`): a committed conf change handed out in a Ready is
 * applied to the membership by `advance()` even when a leader's snapshot past it was stepped in
 * between, so it lands on top of the snapshot's (later) membership. Here x is added at 6 and
 * removed by 10; the snapshot at 10 says x is gone, yet after `advance()` x is a learner again.
 * The core now skips conf entries that the restored snapshot already covers.
 */
import assert from "node:assert/strict";
import { bootstrapEntries } from "../../cluster/node/mod.ts";
import { encodeConfChange, EntryKind, type Message, RawNode } from "../../cluster/raft/mod.ts";

const from = { clusterId: "sim", from: "a", to: "f", term: 2 } as const;

Deno.test({
  name: "RawNode.advance does not re-apply a conf change that a restored snapshot already covers",
  fn: () => {
    const entries = bootstrapEntries({ voters: ["a", "f"], learners: [] }, new Map());
    const node = new RawNode(
      { id: "f", clusterId: "sim", electionTicks: 10, heartbeatTicks: 2, random: () => 0.5 },
      {
        hardState: { term: 1, vote: "", commit: 4 },
        bootstrapConf: { voters: [], learners: [] },
        entries,
      },
    );
    node.advance(node.ready());
    const append: Message = {
      ...from,
      type: "append",
      logTerm: 1,
      index: 4,
      commit: 4,
      entries: [
        { index: 5, term: 2, kind: EntryKind.Normal, data: new Uint8Array() },
        {
          index: 6,
          term: 2,
          kind: EntryKind.ConfChange,
          data: encodeConfChange({ op: "add_learner", nodeId: "x" }),
        },
      ],
    };
    node.step(append);
    node.advance(node.ready());
    node.step({ ...from, type: "heartbeat", logTerm: 0, index: 0, commit: 6 });
    const rd = node.ready(); // commits 5..6: add_learner x
    assert.deepEqual(rd.committedEntries.map((e) => e.index), [5, 6]);
    // While rd is being handled, the leader's snapshot at 10 arrives: x was removed by then.
    const conf10 = { voters: ["a", "f"], learners: [] };
    const data = new Uint8Array([1]);
    node.step({
      ...from,
      type: "snapshot",
      logTerm: 0,
      index: 0,
      commit: 0,
      snapshotIndex: 10,
      snapshot: {
        meta: { index: 10, term: 2, conf: conf10 },
        offset: 0,
        data,
        totalBytes: 1,
        done: true,
      },
    });
    node.advance(rd);
    for (let i = 0; i < 3 && node.hasReady(); i++) node.advance(node.ready());
    assert.deepEqual(node.status().conf, conf10);
  },
});
