/**
 * One contract suite for each of HardStateStore and SnapshotStore, run against the memory and
 * the file implementation, plus the file stores' damage detection.
 */

import assert from "node:assert/strict";
import type { HardState, Snapshot } from "../raft/mod.ts";
import type { HardStateStore } from "./hard_state_store.ts";
import type { SnapshotStore } from "./snapshot_store.ts";
import {
  FileHardStateStore,
  HARD_STATE_FILE,
  MemoryHardStateStore,
} from "./file_hard_state_store.ts";
import { FileSnapshotStore, MemorySnapshotStore, SAVE_CHUNK_BYTES } from "./file_snapshot_store.ts";
import { encodeSnapshot } from "./_codec.ts";

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "qq_state_" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Each implementation: a first instance and a way to get "the same store after a restart". */
const HARD_STATE_IMPLS: Record<string, (dir: string) => () => HardStateStore> = {
  MemoryHardStateStore: () => {
    const s = new MemoryHardStateStore();
    return () => s;
  },
  FileHardStateStore: (dir) => () => new FileHardStateStore(dir),
};

const SNAPSHOT_IMPLS: Record<string, (dir: string) => () => SnapshotStore> = {
  MemorySnapshotStore: () => {
    const s = new MemorySnapshotStore();
    return () => s;
  },
  FileSnapshotStore: (dir) => () => new FileSnapshotStore(dir),
};

function snapshot(index: number, term: number, bytes = 100): Snapshot {
  return {
    meta: { index, term, conf: { voters: ["n1", "n2", "nœud-3"], learners: ["n4"] } },
    data: Uint8Array.from({ length: bytes }, (_, i) => (i * 13 + index) & 0xff),
  };
}

for (const [name, make] of Object.entries(HARD_STATE_IMPLS)) {
  Deno.test(`${name}: load() is undefined before any save()`, async () => {
    await withDir(async (dir) => assert.equal(await make(dir)().load(), undefined));
  });

  Deno.test(`${name}: save() then load() round-trips, also after a restart`, async () => {
    await withDir(async (dir) => {
      const open = make(dir);
      const hs: HardState = { term: 2 ** 40 + 3, vote: "nœud-1", commit: 2 ** 33 + 7 };
      await open().save({ term: 1, vote: "", commit: 0 });
      await open().save(hs);
      assert.deepEqual(await open().load(), hs);
    });
  });

  Deno.test(`${name}: overlapping save() calls leave the last one`, async () => {
    await withDir(async (dir) => {
      const store = make(dir)();
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => store.save({ term: i, vote: `n${i}`, commit: i })),
      );
      assert.deepEqual(await store.load(), { term: 9, vote: "n9", commit: 9 });
    });
  });
}

for (const [name, make] of Object.entries(SNAPSHOT_IMPLS)) {
  Deno.test(`${name}: load() is undefined before any save()`, async () => {
    await withDir(async (dir) => assert.equal(await make(dir)().load(), undefined));
  });

  Deno.test(`${name}: save() then load() round-trips the newest, also after a restart`, async () => {
    await withDir(async (dir) => {
      const open = make(dir);
      await open().save(snapshot(10, 1));
      await open().save(snapshot(30, 2, 1 << 20));
      assert.deepEqual(await open().load(), snapshot(30, 2, 1 << 20));
      await open().save(snapshot(20, 2)); // older than the newest: never replaces it
      assert.deepEqual(await open().load(), snapshot(30, 2, 1 << 20));
    });
  });
}

Deno.test("FileHardStateStore.load() throws on a flipped byte or a truncated file", async () => {
  await withDir(async (dir) => {
    await new FileHardStateStore(dir).save({ term: 5, vote: "n2", commit: 9 });
    const path = `${dir}/${HARD_STATE_FILE}`;
    const good = await Deno.readFile(path);
    for (let at = 0; at < good.length; at++) {
      const bad = good.slice();
      bad[at] ^= 0x01;
      await Deno.writeFile(path, bad);
      await assert.rejects(
        new FileHardStateStore(dir).load(),
        /hard state.*checksum/,
        `byte ${at}`,
      );
    }
    for (let cut = 0; cut < good.length; cut++) {
      await Deno.writeFile(path, good.subarray(0, cut));
      await assert.rejects(new FileHardStateStore(dir).load(), /hard state/, `cut at ${cut}`);
    }
  });
});

Deno.test("FileHardStateStore.load() ignores a temp file left by a crash", async () => {
  await withDir(async (dir) => {
    await new FileHardStateStore(dir).save({ term: 5, vote: "n2", commit: 9 });
    await Deno.writeFile(`${dir}/${HARD_STATE_FILE}.tmp`, new Uint8Array([1, 2, 3]));
    assert.deepEqual(await new FileHardStateStore(dir).load(), { term: 5, vote: "n2", commit: 9 });
  });
});

Deno.test("FileSnapshotStore keeps the newest two and throws on a damaged newest", async () => {
  await withDir(async (dir) => {
    const store = new FileSnapshotStore(dir);
    for (const i of [1, 2, 3, 4]) await store.save(snapshot(i * 10, i));
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.equal(names.length, 2);
    assert.match(names[0], /^0+30-0+3\.snap$/);
    const newest = `${dir}/${names[1]}`;
    const buf = await Deno.readFile(newest);
    buf[buf.length >> 1] ^= 0x10;
    await Deno.writeFile(newest, buf);
    await assert.rejects(new FileSnapshotStore(dir).load(), /snapshot.*0+40-0+4\.snap.*checksum/);
  });
});

Deno.test("FileSnapshotStore.save() streams in chunks the file encodeSnapshot describes", async () => {
  await withDir(async (dir) => {
    // Not a multiple of the chunk: the last chunk is short, and the CRC spans every chunk.
    const s = snapshot(70, 3, 3 * SAVE_CHUNK_BYTES + 12_345);
    await new FileSnapshotStore(dir).save(s);
    const [name] = [...Deno.readDirSync(dir)].map((e) => e.name);
    const bytes = await Deno.readFile(`${dir}/${name}`);
    assert.deepEqual(bytes, encodeSnapshot(s));
    assert.deepEqual(await new FileSnapshotStore(dir).load(), s);
    bytes[bytes.length - 100] ^= 1; // damage in the last chunk
    await Deno.writeFile(`${dir}/${name}`, bytes);
    await assert.rejects(new FileSnapshotStore(dir).load(), /checksum mismatch/);
  });
});

Deno.test("FileSnapshotStore.saveParts() writes the file save() writes and reads it back by chunk", async () => {
  await withDir(async (dir) => {
    const s = snapshot(70, 3, 3 * SAVE_CHUNK_BYTES + 12_345);
    // Parts of every size: tiny ones are gathered, large ones written as they are.
    const cuts = [
      0,
      4,
      5,
      70_000,
      70_001,
      SAVE_CHUNK_BYTES + 9,
      2 * SAVE_CHUNK_BYTES,
      s.data.length,
    ];
    const parts = cuts.slice(1).map((end, i) => s.data.subarray(cuts[i], end));
    const store = new FileSnapshotStore(dir);
    const stored = await store.saveParts(s.meta, parts);
    const [name] = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(await Deno.readFile(`${dir}/${name}`), encodeSnapshot(s));
    assert.equal(stored.data.byteLength, s.data.length);
    assert.deepEqual(stored.meta, s.meta);
    for (
      const [a, b] of [[0, 10], [5, SAVE_CHUNK_BYTES + 17], [s.data.length - 3, s.data.length]]
    ) {
      assert.deepEqual(stored.data.subarray(a, b), s.data.subarray(a, b));
    }
    assert.equal(store.stored(), stored);
    // After a restart: the loaded snapshot, and the same bytes read back from the file.
    const again = new FileSnapshotStore(dir);
    assert.deepEqual(await again.load(), s);
    assert.deepEqual(again.stored()!.data.subarray(1000, 3000), s.data.subarray(1000, 3000));
  });
});

Deno.test("FileSnapshotStore.saveStream() writes, part by part, the file saveParts() writes", async () => {
  await withDir(async (dir) => {
    const s = snapshot(71, 4, 3 * SAVE_CHUNK_BYTES + 54_321);
    const cuts = [
      0,
      1,
      6,
      70_000,
      70_003,
      SAVE_CHUNK_BYTES + 9,
      2 * SAVE_CHUNK_BYTES,
      s.data.length,
    ];
    let made = 0;
    async function* parts() {
      for (let i = 1; i < cuts.length; i++) {
        made++;
        await Promise.resolve();
        yield s.data.slice(cuts[i - 1], cuts[i]);
      }
    }
    const store = new FileSnapshotStore(dir);
    const stored = await store.saveStream(s.meta, parts());
    assert.equal(made, cuts.length - 1);
    const [name] = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(await Deno.readFile(`${dir}/${name}`), encodeSnapshot(s));
    assert.equal(stored.data.byteLength, s.data.length);
    assert.deepEqual(
      stored.data.subarray(5, SAVE_CHUNK_BYTES + 17),
      s.data.subarray(5, SAVE_CHUNK_BYTES + 17),
    );
    assert.equal(store.stored(), stored);
    assert.deepEqual(await new FileSnapshotStore(dir).load(), s);
    // No parts at all: an empty snapshot, loaded back as one.
    const empty = snapshot(72, 4, 0);
    await store.saveStream(empty.meta, (async function* () {})());
    assert.deepEqual(await new FileSnapshotStore(dir).load(), empty);
  });
});

Deno.test("FileSnapshotStore.load() drops a temp file left by a crash during save()", async () => {
  await withDir(async (dir) => {
    await new FileSnapshotStore(dir).save(snapshot(10, 1));
    const tmp = `${dir}/00000000000000000020-00000000000000000002.snap.tmp`;
    await Deno.writeFile(tmp, new Uint8Array(50));
    assert.deepEqual(await new FileSnapshotStore(dir).load(), snapshot(10, 1));
    await assert.rejects(Deno.stat(tmp), Deno.errors.NotFound);
  });
});

Deno.test("FileHardStateStore save() failure is fatal: later saves reject too", async () => {
  await withDir(async (dir) => {
    const gone = `${dir}/gone`;
    await Deno.mkdir(gone);
    const store = new FileHardStateStore(gone);
    await store.save({ term: 1, vote: "", commit: 0 });
    await Deno.remove(gone, { recursive: true });
    await assert.rejects(
      store.save({ term: 2, vote: "n1", commit: 0 }),
      /Cannot save the Raft hard state \(term 2\)/,
    );
    await Deno.mkdir(gone); // the disk "recovers": never carry on
    await assert.rejects(store.save({ term: 3, vote: "n1", commit: 0 }), /term 2/);
  });
});
