/**
 * `FileSnapshotStore.open()`: the newest snapshot verified chunk by chunk and read from its file
 * on demand, never whole in memory.
 */

import assert from "node:assert/strict";
import type { Snapshot } from "../raft/mod.ts";
import { FileSnapshotStore, SAVE_CHUNK_BYTES } from "./file_snapshot_store.ts";

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "qq_snap_open_" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function snapshot(index: number, term: number, bytes: number): Snapshot {
  return {
    meta: { index, term, conf: { voters: ["n1", "n2", "nœud-3"], learners: ["n4"] } },
    data: Uint8Array.from({ length: bytes }, (_, i) => (i * 13 + index) & 0xff),
  };
}

/** The newest file of `dir` (names sort by index). */
function newestFile(dir: string): string {
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  return `${dir}/${names.at(-1)}`;
}

Deno.test("open() gives the newest snapshot with data read from its file by range", async () => {
  await withDir(async (dir) => {
    const store = new FileSnapshotStore(dir);
    assert.equal(await store.open(), undefined);
    await store.save(snapshot(10, 1, 100));
    // Not a multiple of the chunk: the checksum spans every chunk and a short last one.
    const s = snapshot(70, 3, 2 * SAVE_CHUNK_BYTES + 12_345);
    await store.save(s);
    const reopened = new FileSnapshotStore(dir);
    const opened = (await reopened.open())!;
    try {
      assert.deepEqual(opened.meta, s.meta);
      assert.equal(opened.data.byteLength, s.data.length);
      for (
        const [a, b] of [[0, 10], [5, SAVE_CHUNK_BYTES + 7], [s.data.length - 3, s.data.length]]
      ) {
        assert.deepEqual(opened.data.subarray(a, b), s.data.subarray(a, b));
      }
      assert.deepEqual(opened.data.subarray(0, s.data.length), s.data);
      // The core's copy of it, as after load().
      assert.deepEqual(reopened.stored()!.meta, s.meta);
      assert.deepEqual(reopened.stored()!.data.subarray(3, 9), s.data.subarray(3, 9));
    } finally {
      opened.data.close();
    }
    assert.throws(() => opened.data.subarray(0, 1), /closed/);
    opened.data.close(); // idempotent
  });
});

Deno.test("open() keeps reading a file that later saves deleted", async () => {
  await withDir(async (dir) => {
    const store = new FileSnapshotStore(dir);
    const s = snapshot(20, 1, 5000);
    await store.save(s);
    const opened = (await store.open())!;
    for (const i of [3, 4, 5]) await store.save(snapshot(i * 10, 1, 100));
    assert.ok(![...Deno.readDirSync(dir)].some((e) => e.name.startsWith("0000000000000000002")));
    assert.deepEqual(opened.data.subarray(0, 5000), s.data);
    opened.data.close();
  });
});

Deno.test("open() refuses a damaged, truncated or mislabelled newest snapshot", async () => {
  await withDir(async (dir) => {
    const store = new FileSnapshotStore(dir);
    await store.save(snapshot(40, 4, SAVE_CHUNK_BYTES + 99));
    const path = newestFile(dir);
    const good = await Deno.readFile(path);
    for (const at of [2, 40, good.length >> 1, good.length - 100, good.length - 2]) {
      const bad = new Uint8Array(good);
      bad[at] ^= 0x10;
      await Deno.writeFile(path, bad);
      await assert.rejects(new FileSnapshotStore(dir).open(), /0+40-0+4\.snap.*checksum/);
    }
    await Deno.writeFile(path, good.subarray(0, good.length - 7));
    await assert.rejects(new FileSnapshotStore(dir).open(), /checksum/);
    await Deno.writeFile(path, good.subarray(0, 6));
    await assert.rejects(new FileSnapshotStore(dir).open(), /too short/);
    await Deno.writeFile(path, good);
    await Deno.rename(path, path.replace(/0+40-/, "00000000000000000041-"));
    await assert.rejects(new FileSnapshotStore(dir).open(), /holds index 40 term 4/);
  });
});

Deno.test("openSaved() opens a snapshot just saved by its meta, undefined once it is gone", async () => {
  await withDir(async (dir) => {
    const store = new FileSnapshotStore(dir);
    const s = snapshot(30, 2, SAVE_CHUNK_BYTES + 5);
    await store.save(s);
    const opened = (await store.openSaved(s.meta))!;
    assert.deepEqual(opened.meta, s.meta);
    assert.equal(opened.data.byteLength, s.data.length);
    assert.deepEqual(opened.data.subarray(0, s.data.length), s.data);
    opened.data.close();
    for (const i of [4, 5]) await store.save(snapshot(i * 10, 2, 10));
    assert.equal(await store.openSaved(s.meta), undefined);
  });
});
