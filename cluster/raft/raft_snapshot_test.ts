/**
 * Snapshots (§7): compaction, InstallSnapshot in chunks with flow control, restarts and crashes
 * during a transfer, keeping a matching suffix, discarding a conflicting log.
 */

import assert from "node:assert/strict";
import { bytes, Network } from "./_testing_network.ts";
import { RawNode } from "./raw_node.ts";
import { type Entry, EntryKind, type Message, NO_NODE, type Snapshot } from "./types.ts";

const CHUNK = 16;

/** n3 misses 30 entries, then n1 compacts its log so that n3 needs a snapshot. */
function lagging(): Network {
  const net = new Network(["n1", "n2", "n3"], { config: { snapshotChunkBytes: CHUNK } });
  net.elect("n1");
  net.propose("n1", "a");
  net.tickAll(1);
  net.isolate("n3");
  net.propose("n1", ...Array.from({ length: 30 }, (_, i) => `e${i}`));
  net.tickAll(1);
  const snap = net.takeSnapshot("n1");
  net.node("n1").compact(snap);
  assert.equal(net.node("n1").status().firstIndex, snap.meta.index + 1);
  return net;
}

function entry(index: number, term: number): Entry {
  return { index, term, kind: EntryKind.Normal, data: bytes(`${index}@${term}`) };
}

function snapMsg(snap: Snapshot, offset: number, size: number, to = "n2"): Message {
  const data = snap.data.subarray(offset, offset + size);
  return {
    type: "snapshot",
    clusterId: "c1",
    from: "n1",
    to,
    term: 5,
    logTerm: 0,
    index: 0,
    commit: 0,
    snapshotIndex: snap.meta.index,
    snapshot: {
      meta: snap.meta,
      offset,
      data,
      totalBytes: snap.data.byteLength,
      done: offset + data.byteLength === snap.data.byteLength,
    },
  };
}

function followerWithLog(entries: Entry[]): RawNode {
  const n = new RawNode({
    id: "n2",
    clusterId: "c1",
    electionTicks: 10,
    heartbeatTicks: 1,
    random: () => 0,
  }, {
    hardState: { term: 5, vote: NO_NODE, commit: 0 },
    bootstrapConf: { voters: ["n1", "n2", "n3"], learners: [] },
    entries,
  });
  return n;
}

Deno.test("compact() drops the log behind the snapshot; a lagging follower gets it in chunks", () => {
  const net = lagging();
  net.heal();
  net.delivered = [];
  net.tickAll(3);
  const chunks = net.delivered.filter((m) => m.type === "snapshot" && m.to === "n3");
  assert.ok(chunks.length > 3, `${chunks.length} chunks`);
  for (const c of chunks) assert.ok(c.snapshot!.data.byteLength <= CHUNK);
  assert.deepEqual(net.sim("n3").app, net.sim("n1").app);
  assert.equal(net.sim("n3").app.length, 31);
  assert.ok(net.sim("n3").disk.snapshot !== undefined, "the snapshot was persisted");
  assert.equal(net.node("n1").status().progress["n3"].state, "replicate");
});

Deno.test("InstallSnapshot: one chunk in flight, each acked before the next is sent", () => {
  const net = lagging();
  net.heal();
  net.delivered = [];
  net.tickAll(3);
  const seq = net.delivered
    .filter((m) => (m.type === "snapshot" && m.to === "n3") || (m.type === "snapshot_resp"))
    .map((m) => m.type);
  for (let i = 1; i < seq.length; i++) {
    assert.ok(!(seq[i] === "snapshot" && seq[i - 1] === "snapshot"), seq.join(","));
  }
});

Deno.test("InstallSnapshot: a follower crash mid-transfer restarts the transfer cleanly", () => {
  const net = lagging();
  net.heal();
  let seen = 0;
  // Let three chunks through, then crash n3 with a partial copy in memory.
  net.filter = (m) => !(m.type === "snapshot" && ++seen > 3);
  net.tickAll(1);
  net.crash("n3");
  net.filter = () => true;
  net.restart("n3");
  net.delivered = [];
  net.tickAll(5);
  const offsets = net.delivered.filter((m) => m.type === "snapshot").map((m) => m.snapshot!.offset);
  assert.ok(offsets.includes(0), "started over from offset 0");
  assert.deepEqual(net.sim("n3").app, net.sim("n1").app);
});

Deno.test("InstallSnapshot: lost chunks are resent after a heartbeat round", () => {
  const net = lagging();
  net.heal();
  let n = 0;
  net.filter = (m) => !(m.type === "snapshot" && ++n % 3 === 0); // lose every third chunk
  net.tickAll(30);
  assert.deepEqual(net.sim("n3").app, net.sim("n1").app);
});

Deno.test("InstallSnapshot: a crash after the snapshot is persisted recovers from disk", () => {
  const net = lagging();
  net.heal();
  net.tickAll(3);
  net.crash("n3");
  net.restart("n3");
  assert.equal(net.node("n3").status().firstIndex, net.sim("n3").disk.snapshot!.meta.index + 1);
  net.tickAll(2);
  net.propose("n1", "after");
  net.tickAll(1);
  assert.deepEqual(net.sim("n3").app, net.sim("n1").app);
});

Deno.test("InstallSnapshot: a snapshot whose last entry matches our log keeps the suffix (§7)", () => {
  const n = followerWithLog([1, 2, 3, 4, 5].map((i) => entry(i, 1)));
  const snap: Snapshot = {
    meta: { index: 3, term: 1, conf: { voters: ["n1", "n2", "n3"], learners: [] } },
    data: bytes("state-at-3"),
  };
  n.step(snapMsg(snap, 0, 100));
  const rd = n.ready();
  assert.equal(rd.snapshot, undefined);
  assert.equal(n.status().lastIndex, 5);
  assert.equal(n.status().commit, 3);
  assert.equal(rd.messagesAfterPersist.find((m) => m.type === "append_resp")?.index, 3);
});

Deno.test("InstallSnapshot: a conflicting log is discarded and the snapshot surfaces in Ready", () => {
  const n = followerWithLog([1, 2, 3, 4, 5].map((i) => entry(i, 1)));
  const snap: Snapshot = {
    meta: { index: 4, term: 2, conf: { voters: ["n1", "n2", "n3", "n4"], learners: [] } },
    data: bytes("state-at-4-of-term-2"),
  };
  n.step(snapMsg(snap, 0, 8));
  let rd = n.ready();
  assert.equal(rd.snapshot, undefined);
  assert.deepEqual(rd.messages.map((m) => [m.type, m.index]), [["snapshot_resp", 8]]);
  n.advance(rd);
  n.step(snapMsg(snap, 8, 100));
  rd = n.ready();
  assert.deepEqual(rd.snapshot?.data, snap.data);
  assert.equal(rd.snapshot?.meta.index, 4);
  assert.equal(rd.entries.length, 0);
  assert.equal(rd.committedEntries.length, 0);
  assert.equal(rd.hardState?.commit, 4);
  assert.equal(rd.messages.filter((m) => m.type === "append_resp").length, 0);
  assert.equal(rd.messagesAfterPersist.find((m) => m.type === "append_resp")?.index, 4);
  n.advance(rd);
  const st = n.status();
  assert.equal(st.lastIndex, 4);
  assert.equal(st.applied, 4);
  assert.deepEqual(st.conf.voters, ["n1", "n2", "n3", "n4"]);
});

Deno.test("InstallSnapshot: a chunk past a gap is rejected with the bytes received", () => {
  const n = followerWithLog([]);
  const snap: Snapshot = {
    meta: { index: 9, term: 3, conf: { voters: ["n1", "n2", "n3"], learners: [] } },
    data: bytes("0123456789abcdef0123"),
  };
  n.step(snapMsg(snap, 0, 8));
  n.step(snapMsg(snap, 16, 8)); // 8..15 was lost
  const rd = n.ready();
  assert.deepEqual(rd.messages.map((m) => [m.index, m.reject ?? false]), [[8, false], [8, true]]);
});

Deno.test("compact() refuses to compact beyond the applied index", () => {
  const net = new Network(["n1"]);
  net.elect("n1");
  const st = net.node("n1").status();
  const snap: Snapshot = {
    meta: { index: st.applied + 5, term: st.term, conf: st.conf },
    data: bytes("[]"),
  };
  assert.throws(() => net.node("n1").compact(snap), /only \d+ is applied/);
});

Deno.test("log: 100k entries replicate without quadratic copying", () => {
  const net = new Network(["n1", "n2", "n3"], { config: { maxAppendBytes: 64 * 1024 } });
  net.elect("n1");
  for (let batch = 0; batch < 100; batch++) {
    for (let i = 0; i < 1000; i++) net.node("n1").propose(bytes(`m${batch}.${i}`));
    net.settle();
  }
  net.tickAll(1);
  assert.equal(net.sim("n3").app.length, 100_000);
  const snap = net.takeSnapshot("n1");
  net.node("n1").compact(snap);
  assert.equal(net.node("n1").status().firstIndex, snap.meta.index + 1);
});

Deno.test("InstallSnapshot: the leader compacting again mid-transfer sends the newer snapshot", () => {
  const net = lagging();
  net.heal();
  net.filter = (m) => m.type !== "snapshot_resp"; // the transfer stalls after one chunk
  net.tickAll(1);
  net.propose("n1", "more1", "more2");
  net.tickAll(1);
  const newer = net.takeSnapshot("n1");
  net.node("n1").compact(newer);
  net.filter = () => true;
  net.delivered = [];
  net.tickAll(20);
  assert.deepEqual(net.sim("n3").app, net.sim("n1").app);
  assert.ok(
    net.delivered.some((m) => m.type === "snapshot" && m.snapshotIndex === newer.meta.index),
  );
  assert.equal(net.node("n1").status().progress["n3"].state, "replicate");
});

Deno.test("InstallSnapshot: chunks of the same snapshot from another leader are not mixed", () => {
  const n = followerWithLog([]);
  const snap: Snapshot = {
    meta: { index: 9, term: 3, conf: { voters: ["n1", "n2", "n3"], learners: [] } },
    data: bytes("0123456789abcdef"),
  };
  n.step(snapMsg(snap, 0, 8));
  n.step({ ...snapMsg(snap, 8, 8), from: "n3" }); // a new leader continues at offset 8
  const rd = n.ready();
  assert.equal(rd.snapshot, undefined);
  assert.deepEqual(rd.messages.map((m) => [m.to, m.index, m.reject ?? false]), [
    ["n1", 8, false],
    ["n3", 0, true],
  ]);
});
