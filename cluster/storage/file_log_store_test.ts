/**
 * FileLogStore behaviour that only a disk has: recovery of torn tails, refusal of damage in
 * the middle, segment files, group commit and fatal fsync errors.
 */

import assert from "node:assert/strict";
import { FileLogStore, type FileLogStoreOptions, LogCorruptionError } from "./file_log_store.ts";
import { segmentName } from "./_segment_scan.ts";
import { recordBytes } from "./_record.ts";
import { assertEntries, entries, entry, mulberry32 } from "./_testing.ts";
import type { Entry } from "../raft/mod.ts";

const quiet = { log: () => {} };

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "qq_log_" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function segmentFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".seg")) names.push(e.name);
  return names.sort();
}

/** A log of entries 1..5 in one segment; returns its path and the byte offset of each record. */
async function fiveEntryLog(dir: string): Promise<{ path: string; offsets: number[] }> {
  const log = await FileLogStore.open(dir, quiet);
  const es = entries(1, 5, 1);
  await log.append(es);
  await log.close();
  const offsets: number[] = [];
  let o = 0;
  for (const e of es) {
    offsets.push(o);
    o += recordBytes(e);
  }
  offsets.push(o);
  return { path: `${dir}/${segmentName(1)}`, offsets };
}

async function flipByte(path: string, offset: number): Promise<void> {
  const buf = await Deno.readFile(path);
  buf[offset] ^= 0x40;
  await Deno.writeFile(path, buf);
}

Deno.test("FileLogStore.open() truncates a last record cut at any byte offset", async () => {
  await withDir(async (dir) => {
    const { path, offsets } = await fiveEntryLog(dir);
    const whole = await Deno.readFile(path);
    for (let cut = offsets[4]; cut < offsets[5]; cut++) {
      await Deno.writeFile(path, whole.subarray(0, cut));
      const notes: string[] = [];
      const log = await FileLogStore.open(dir, { log: (m) => notes.push(m) });
      assert.equal(log.lastIndex(), 4, `cut at byte ${cut}`);
      assertEntries((await log.load()).entries, entries(1, 4, 1));
      assert.equal((await Deno.stat(path)).size, offsets[4], "the torn bytes are gone");
      if (cut > offsets[4]) assert.match(notes.join("\n"), /torn tail/);
      await log.append(entries(5, 6, 2)); // and the log goes on
      await log.close();
    }
  });
});

Deno.test("FileLogStore.open() refuses a flipped byte in a record followed by good ones", async () => {
  await withDir(async (dir) => {
    const { path, offsets } = await fiveEntryLog(dir);
    const whole = await Deno.readFile(path);
    // The checksum, the length field, the index, and the data of record 2.
    for (const at of [offsets[1], offsets[1] + 5, offsets[1] + 9, offsets[2] - 1]) {
      await Deno.writeFile(path, whole);
      await flipByte(path, at);
      const err = await FileLogStore.open(dir, quiet).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof LogCorruptionError, `flip at byte ${at}: ${err}`);
      assert.equal(err.path, path);
      assert.equal(err.offset, offsets[1]);
      assert.match(err.message, new RegExp(`${segmentName(1)} is damaged at byte ${offsets[1]}`));
      assert.deepEqual(await Deno.readFile(path).then((b) => b.length), whole.length, "untouched");
    }
  });
});

Deno.test("FileLogStore.open() truncates a flipped byte in the last record", async () => {
  await withDir(async (dir) => {
    const { path, offsets } = await fiveEntryLog(dir);
    await flipByte(path, offsets[4] + 20);
    const log = await FileLogStore.open(dir, quiet);
    assertEntries((await log.load()).entries, entries(1, 4, 1));
    await log.close();
  });
});

Deno.test("FileLogStore.open() truncates zero-filled garbage after the last record", async () => {
  await withDir(async (dir) => {
    const { path, offsets } = await fiveEntryLog(dir);
    const buf = await Deno.readFile(path);
    const padded = new Uint8Array(buf.length + 4096);
    padded.set(buf);
    await Deno.writeFile(path, padded);
    const log = await FileLogStore.open(dir, quiet);
    assertEntries((await log.load()).entries, entries(1, 5, 1));
    assert.equal((await Deno.stat(path)).size, offsets[5]);
    await log.close();
  });
});

/** A log of entries 1..30 across many small segments. */
async function manySegmentLog(dir: string, opts: FileLogStoreOptions = {}): Promise<string[]> {
  const log = await FileLogStore.open(dir, { ...quiet, segmentBytesMax: 200, ...opts });
  for (let i = 1; i <= 30; i += 3) await log.append(entries(i, i + 2, 1));
  await log.close();
  return await segmentFiles(dir);
}

Deno.test("FileLogStore.open() refuses a gap between segments", async () => {
  await withDir(async (dir) => {
    const names = await manySegmentLog(dir);
    assert.ok(names.length >= 4, `${names.length} segments`);
    await Deno.remove(`${dir}/${names[1]}`);
    await assert.rejects(FileLogStore.open(dir, quiet), (e: unknown) => {
      assert.ok(e instanceof LogCorruptionError);
      assert.match(e.message, /gap/);
      assert.equal(e.path, `${dir}/${names[2]}`);
      return true;
    });
  });
});

Deno.test("FileLogStore.open() refuses a torn tail in a sealed segment", async () => {
  await withDir(async (dir) => {
    const names = await manySegmentLog(dir);
    const path = `${dir}/${names[0]}`;
    const buf = await Deno.readFile(path);
    await Deno.writeFile(path, buf.subarray(0, buf.length - 3));
    await assert.rejects(FileLogStore.open(dir, quiet), LogCorruptionError);
  });
});

Deno.test("FileLogStore segments stay under segmentBytesMax and compact() deletes covered ones", async () => {
  await withDir(async (dir) => {
    const names = await manySegmentLog(dir);
    for (const n of names) assert.ok((await Deno.stat(`${dir}/${n}`)).size <= 200, n);
    const log = await FileLogStore.open(dir, { ...quiet, segmentBytesMax: 200 });
    await log.compact(20);
    const left = await segmentFiles(dir);
    assert.ok(left.length < names.length, `${left.length} of ${names.length} segments left`);
    assert.ok(Number(left[0].slice(0, 20)) <= 21, "the segment holding 21 stays");
    for (const n of left.slice(1)) assert.ok(Number(n.slice(0, 20)) > 20);
    await log.compact(30);
    assert.deepEqual(await segmentFiles(dir), [], "a log wholly covered leaves no segment");
    await log.close();
  });
});

Deno.test("FileLogStore append() replacing a suffix across segments is durable", async () => {
  await withDir(async (dir) => {
    await manySegmentLog(dir);
    let log = await FileLogStore.open(dir, { ...quiet, segmentBytesMax: 200 });
    await log.append(entries(4, 6, 2));
    await log.close();
    log = await FileLogStore.open(dir, quiet);
    assertEntries((await log.load()).entries, [...entries(1, 3, 1), ...entries(4, 6, 2)]);
    for (const n of await segmentFiles(dir)) assert.ok(Number(n.slice(0, 20)) <= 4, n);
    await log.close();
  });
});

Deno.test("FileLogStore group commit: 64 concurrent append() calls share few fsyncs", async () => {
  await withDir(async (dir) => {
    let syncs = 0;
    const log = await FileLogStore.open(dir, { ...quiet, beforeSync: () => void syncs++ });
    await Promise.all(Array.from({ length: 64 }, (_, i) => log.append(entries(i + 1, i + 1, 1))));
    assert.ok(syncs <= 2, `${syncs} fsyncs for 64 appends`);
    assertEntries((await log.load()).entries, entries(1, 64, 1));
    await log.close();
  });
});

Deno.test("FileLogStore fsync failure stops the store: the batch and every later call reject", async () => {
  await withDir(async (dir) => {
    let fail = false;
    const log = await FileLogStore.open(dir, {
      ...quiet,
      beforeSync: () => {
        if (fail) throw new Error("EIO (injected)");
      },
    });
    await log.append(entries(1, 2, 1));
    fail = true;
    const a = log.append(entries(3, 3, 1));
    const b = log.append(entries(4, 4, 1));
    await assert.rejects(a, /Cannot append Raft log entries 3\.\.[34]: EIO/);
    await assert.rejects(b, /EIO/);
    fail = false; // even once the disk "recovers", never carry on
    await assert.rejects(log.append(entries(3, 3, 1)), /stopped after an earlier I\/O failure/);
    await assert.rejects(log.compact(1), /stopped/);
    assert.equal(log.lastIndex(), 2, "lastIndex() never reports what was not synced");
    await log.close();
  });
});

Deno.test("appends of falling sizes reuse one buffer and leave nothing of the larger one", async () => {
  await withDir(async (dir) => {
    const log = await FileLogStore.open(dir, quiet);
    const sizes = [300_000, 10, 70_000, 1, 0, 2_000_000, 5];
    const written = sizes.map((bytes, i) => entry(i + 1, 1, bytes));
    for (const e of written) await log.append([e]);
    await log.close();
    const reopened = await FileLogStore.open(dir, quiet);
    assertEntries((await reopened.load()).entries, written);
    await reopened.close();
  });
});

Deno.test("FileLogStore writes zeros ahead of the active segment, never into a sealed one", async () => {
  await withDir(async (dir) => {
    const max = 64 * 1024;
    const notes: string[] = [];
    let log = await FileLogStore.open(dir, { log: (m) => notes.push(m), segmentBytesMax: max });
    // 40 appends of ~3.7 KB: the zeros reach the limit, then two segments roll.
    for (let i = 1; i <= 40; i++) await log.append([entry(i, 1, 3_700)]);
    const names = await segmentFiles(dir);
    assert.ok(names.length >= 3, `${names.length} segments`);
    for (const n of names.slice(0, -1)) {
      const buf = await Deno.readFile(`${dir}/${n}`);
      assert.notEqual(buf.at(-1), 0, `${n}: a sealed segment ends with its last record`);
    }
    const active = `${dir}/${names.at(-1)}`;
    // The zeros are written on a worker thread; close waits for them.
    await log.close();
    const size = (await Deno.stat(active)).size;
    assert.equal(size, max, "the active segment's zeros reach the segment's limit");
    // Reopened: every entry, nothing reported, the zeros cut; then appends go on after them.
    log = await FileLogStore.open(dir, { log: (m) => notes.push(m), segmentBytesMax: max });
    assertEntries(
      (await log.load()).entries,
      Array.from({ length: 40 }, (_, i) => entry(i + 1, 1, 3_700)),
    );
    assert.deepEqual(notes, []);
    assert.ok((await Deno.stat(active)).size < max);
    await log.append([entry(41, 1, 10)]);
    await log.close();
    assert.equal((await Deno.stat(active)).size, max);
    log = await FileLogStore.open(dir, quiet);
    assert.equal(log.lastIndex(), 41);
    await log.close();
  });
});

Deno.test("FileLogStore: a record torn over the zeros ahead is truncated and reported", async () => {
  await withDir(async (dir) => {
    const { path, offsets } = await fiveEntryLog(dir);
    const buf = await Deno.readFile(path);
    assert.ok(buf.length > offsets[5], "zeros follow the records");
    buf.set([1, 2, 3, 4, 5, 6, 7], offsets[5]); // a sixth record's first bytes, then zeros
    await Deno.writeFile(path, buf);
    const notes: string[] = [];
    const log = await FileLogStore.open(dir, { log: (m) => notes.push(m) });
    assertEntries((await log.load()).entries, entries(1, 5, 1));
    assert.equal(notes.length, 1);
    assert.match(notes[0], /torn tail/);
    assert.equal((await Deno.stat(path)).size, offsets[5]);
    await log.close();
  });
});

Deno.test("FileLogStore: records catching up with zeros still being written keep every byte", async () => {
  await withDir(async (dir) => {
    // Appends of up to 700 KB pass the zeros ahead (written on a worker thread, half a MiB
    // before they run out) while an extension is in flight; replacements cut the segment and
    // rolls seal it with one in flight too. Zeros landing over a record, or after a cut, would
    // show as a torn tail or damage on reopen.
    const notes: string[] = [];
    const opts = { log: (m: string) => notes.push(m), segmentBytesMax: 3 * 1024 * 1024 };
    let log = await FileLogStore.open(dir, opts);
    const random = mulberry32(11);
    let written: Entry[] = [];
    let term = 1;
    for (let step = 0; step < 60; step++) {
      const r = random();
      if (r < 0.1 && written.length > 2) {
        term++;
        const e = entry(written.length - 1, term, 1 + Math.floor(random() * 300_000));
        await log.append([e]);
        written = [...written.slice(0, -2), e];
      } else if (r < 0.15) {
        await log.close();
        log = await FileLogStore.open(dir, opts);
      } else {
        const e = entry(written.length + 1, term, 1 + Math.floor(random() * 700_000));
        const second = entry(written.length + 2, term, 1 + Math.floor(random() * 2_000));
        await Promise.all([log.append([e]), log.append([second])]); // one write, or two
        written.push(e, second);
      }
    }
    await log.close();
    log = await FileLogStore.open(dir, opts);
    assertEntries((await log.load()).entries, written);
    assert.deepEqual(notes, []);
    await log.close();
  });
});
