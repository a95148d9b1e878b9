import assert from "node:assert/strict";
import type { Entry, NodeId, ProposeResult } from "../../../cluster/raft/mod.ts";
import { decodeCommand, encodeCommand } from "../app.ts";
import { Prng } from "../prng.ts";
import type { SimNode } from "./sim_node.ts";
import { Workload } from "./workload.ts";

/** A node that accepts proposals at increasing indexes of one term, and records reads. */
function fakeNode(id: NodeId, term: number) {
  let next = 1;
  const proposals: Uint8Array[] = [];
  const reads: Uint8Array[] = [];
  const node = {
    id,
    up: true,
    incarnation: 1,
    raw: {
      propose(data: Uint8Array): ProposeResult {
        proposals.push(data);
        return { ok: true, index: next++, term };
      },
      readIndex(ctx: Uint8Array) {
        reads.push(ctx);
      },
    },
  } as unknown as SimNode;
  return { node, proposals, reads };
}

function ent(index: number, term: number, data: Uint8Array): Entry {
  return { index, term, kind: 0, data };
}

Deno.test("Workload is told committed only when its entry applies at the index and term it got", () => {
  const w = new Workload(new Prng(1), () => {});
  const { node, proposals } = fakeNode("n1", 2);
  const nodes = new Map([["n1", node]]);
  w.act(0, nodes, 1);
  assert.equal(proposals.length, 1);
  const id = decodeCommand(proposals[0])!;
  // Another entry took index 1: not committed, proposed again with the same id.
  w.onApply(node, ent(1, 2, encodeCommand(999)), 1);
  assert.equal(w.isCommitted(id), false);
  w.act(1, nodes, 0);
  assert.equal(decodeCommand(proposals[1]), id);
  w.onApply(node, ent(2, 2, proposals[1]), 2);
  assert.equal(w.isCommitted(id), true);
  assert.deepEqual(w.committed.map((c) => [c.id, c.index, c.term]), [[id, 2, 2]]);
});

Deno.test("Workload retries with the same id when the node it proposed to restarts", () => {
  const w = new Workload(new Prng(1), () => {});
  const { node, proposals } = fakeNode("n1", 1);
  const nodes = new Map([["n1", node]]);
  w.act(0, nodes, 1);
  (node as { incarnation: number }).incarnation = 2;
  w.act(1, nodes, 0);
  assert.equal(proposals.length, 2);
  assert.equal(decodeCommand(proposals[0]), decodeCommand(proposals[1]));
  assert.equal(w.stats.unknown, 1);
});

Deno.test("Workload flags a read answered below a write told committed before it started", () => {
  const w = new Workload(new Prng(1), () => {});
  const { node, proposals, reads } = fakeNode("n1", 1);
  const nodes = new Map([["n1", node]]);
  w.act(0, nodes, 1);
  w.onApply(node, ent(1, 1, proposals[0]), 1);
  w.read(2, nodes, 1);
  assert.equal(reads.length, 1);
  const stale = w.onReadState(node, { index: 0, context: reads[0], term: 1 });
  assert.match(stale ?? "", /index 1 was told committed before the read started/);
  w.read(3, nodes, 1);
  assert.equal(w.onReadState(node, { index: 1, context: reads[1], term: 1 }), undefined);
});
