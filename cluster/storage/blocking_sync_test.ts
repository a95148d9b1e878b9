/**
 * `FileLogStore.append(entries, { blocking: true })`: the fdatasync runs on the calling thread
 * (nothing else of the process's JavaScript runs between the write and the end of the sync),
 * the entries are durable when it resolves, and a failed sync stops the store as the
 * asynchronous one does.
 */

import assert from "node:assert/strict";
import { FileLogStore } from "./file_log_store.ts";
import { assertEntries, entries } from "./_testing.ts";

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "qq_blocking_" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Appends entries `from..from+1` and says what ran between the start of the fdatasync and its
 * end: a microtask queued as the sync starts runs before the sync has ended when it is
 * asynchronous (the store awaits it), and only after when it blocks.
 */
async function syncOrder(blocking: boolean): Promise<string[]> {
  const events: string[] = [];
  await withDir(async (dir) => {
    const log = await FileLogStore.open(dir, {
      log: () => {},
      beforeSync: () => {
        events.push("sync starts");
        queueMicrotask(() => events.push("microtask"));
      },
      afterSync: () => events.push("sync ended"),
    });
    await log.append(entries(1, 2, 1), { blocking });
    events.push("resolved");
    await log.close();
  });
  return events;
}

Deno.test("a blocking append's fdatasync lets nothing else run before it ends", async () => {
  assert.deepEqual(await syncOrder(true), ["sync starts", "sync ended", "microtask", "resolved"]);
  // The asynchronous sync, for contrast: the same test tells the two apart.
  assert.deepEqual(await syncOrder(false), ["sync starts", "microtask", "sync ended", "resolved"]);
});

Deno.test("blocking appends are durable once resolved, and mix with asynchronous ones", async () => {
  await withDir(async (dir) => {
    let durable = 0;
    const log = await FileLogStore.open(dir, {
      log: () => {},
      afterSync: (_path, bytes) => durable = bytes,
    });
    const a = log.append(entries(1, 3, 1), { blocking: true });
    // b and c share the next write, which does not block: b did not ask for it.
    const b = log.append(entries(4, 6, 1));
    const c = log.append(entries(7, 9, 1), { blocking: true });
    let synced = -1;
    await a.then(() => synced = durable);
    assert.ok(synced > 0, "resolved after its fdatasync");
    await Promise.all([b, c]);
    assert.equal(log.lastIndex(), 9);
    await log.close();
    const reopened = await FileLogStore.open(dir, { log: () => {} });
    assertEntries((await reopened.load()).entries, entries(1, 9, 1));
    await reopened.close();
  });
});

Deno.test("a failed blocking fdatasync rejects the append and stops the store", async () => {
  await withDir(async (dir) => {
    let fail = false;
    const log = await FileLogStore.open(dir, {
      log: () => {},
      beforeSync: () => {
        if (fail) throw new Error("EIO (injected)");
      },
    });
    await log.append(entries(1, 2, 1), { blocking: true });
    fail = true;
    await assert.rejects(log.append(entries(3, 3, 1), { blocking: true }), /EIO/);
    fail = false;
    await assert.rejects(log.append(entries(3, 3, 1), { blocking: true }), /stopped/);
    assert.equal(log.lastIndex(), 2);
    await log.close();
  });
});
