import assert from "node:assert/strict";
import type { ConfState, Snapshot } from "../raft/mod.ts";
import { loadInitialState, type Stores } from "./initial_state.ts";
import { openStorage } from "./mod.ts";
import { MemoryLogStore } from "./memory_log_store.ts";
import { MemoryHardStateStore } from "./file_hard_state_store.ts";
import { MemorySnapshotStore } from "./file_snapshot_store.ts";
import { assertEntries, entries } from "./_testing.ts";

const CONF: ConfState = { voters: ["n1", "n2", "n3"], learners: [] };
const quiet = () => {};

function memoryStores(): Stores {
  return {
    log: new MemoryLogStore(),
    hardState: new MemoryHardStateStore(),
    snapshots: new MemorySnapshotStore(),
  };
}

function snap(index: number, term: number): Snapshot {
  return { meta: { index, term, conf: CONF }, data: new Uint8Array([1, 2, 3]) };
}

Deno.test("loadInitialState() of empty storage is term 0, no vote, no entries", async () => {
  const s = await loadInitialState(memoryStores(), CONF, quiet);
  assert.deepEqual(s, {
    hardState: { term: 0, vote: "", commit: 0 },
    bootstrapConf: CONF,
    snapshot: undefined,
    entries: [],
  });
});

Deno.test("loadInitialState() clamps the commit index to the last entry held", async () => {
  const st = memoryStores();
  await st.log.append(entries(1, 5, 1));
  await st.hardState.save({ term: 2, vote: "n2", commit: 9 });
  const s = await loadInitialState(st, CONF, quiet);
  assert.deepEqual(s.hardState, { term: 2, vote: "n2", commit: 5 });
  assertEntries(s.entries, entries(1, 5, 1));
});

Deno.test("loadInitialState() drops entries a snapshot covers and compacts the log", async () => {
  const st = memoryStores();
  await st.log.append(entries(1, 20, 2));
  await st.snapshots.save(snap(12, 2));
  await st.hardState.save({ term: 2, vote: "", commit: 3 });
  const s = await loadInitialState(st, CONF, quiet);
  assertEntries(s.entries, entries(13, 20, 2));
  assert.equal(s.hardState.commit, 12, "a snapshot is committed state: commit is at least it");
  assert.equal(st.log.firstIndex(), 13);
});

Deno.test("loadInitialState() discards a log with a gap after the snapshot and resets it", async () => {
  const st = memoryStores();
  await st.log.append(entries(20, 25, 3));
  await st.snapshots.save(snap(12, 2));
  const s = await loadInitialState(st, CONF, quiet);
  assertEntries(s.entries, []);
  assert.equal(st.log.firstIndex(), 13);
  assert.equal(st.log.lastIndex(), 12);
});

Deno.test("loadInitialState() discards a log whose term at the snapshot index differs", async () => {
  const st = memoryStores();
  await st.log.append(entries(1, 20, 1));
  await st.snapshots.save(snap(12, 2));
  const notes: string[] = [];
  const s = await loadInitialState(st, CONF, (m) => notes.push(m));
  assertEntries(s.entries, []);
  assert.match(notes.join("\n"), /discarding log entries 1\.\.20/);
  assert.equal(st.log.lastIndex(), 12);
});

Deno.test("loadInitialState() refuses a log that starts after 1 without a snapshot", async () => {
  const st = memoryStores();
  await st.log.append(entries(5, 8, 1));
  await assert.rejects(loadInitialState(st, CONF, quiet), /starts at index 5/);
});

Deno.test("openStorage(fsync) gives the same InitialState after a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "qq_storage_" });
  try {
    let st = await openStorage(dir, "fsync", { log: quiet });
    await st.snapshots.save(snap(4, 1));
    await st.log.compact(4);
    await st.log.append(entries(5, 9, 2));
    await st.hardState.save({ term: 2, vote: "n1", commit: 7 });
    const before = await st.loadInitialState(CONF);
    await st.close();
    st = await openStorage(dir, "fsync", { log: quiet });
    const after = await st.loadInitialState(CONF);
    // The snapshot is opened (its data read from the file on demand): compared by content.
    assert.deepEqual({ ...after, snapshot: undefined }, { ...before, snapshot: undefined });
    assert.deepEqual(after.snapshot?.meta, before.snapshot?.meta);
    const bytes = (s: typeof after.snapshot) => s!.data.subarray(0, s!.data.byteLength);
    assert.deepEqual(bytes(after.snapshot), bytes(before.snapshot));
    assert.deepEqual(bytes(after.snapshot), snap(4, 1).data);
    assert.deepEqual(after.hardState, { term: 2, vote: "n1", commit: 7 });
    assertEntries(after.entries, entries(5, 9, 2));
    assert.equal(after.snapshot?.meta.index, 4);
    for (const s of [before.snapshot, after.snapshot]) {
      (s?.data as { close?: () => void } | undefined)?.close?.();
    }
    await st.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openStorage(memory) touches no disk and starts empty", async () => {
  const dir = `/nonexistent/qq_${crypto.randomUUID()}`;
  const st = await openStorage(dir, "memory");
  await st.log.append(entries(1, 3, 1));
  await st.hardState.save({ term: 1, vote: "n1", commit: 3 });
  const s = await st.loadInitialState(CONF);
  assertEntries(s.entries, entries(1, 3, 1));
  assert.equal(s.hardState.commit, 3);
  await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
  await st.close();
});
