/**
 * A log's first `load()` takes the bytes its open's scan read and verified (no second read and
 * checksum pass at start-up), and reads the files again once anything was written in between.
 */

import assert from "node:assert/strict";
import { FileLogStore } from "./file_log_store.ts";
import { assertEntries, entries, entry } from "./_testing.ts";

const quiet = { log: () => {} };

async function withLog(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "qq_log_open_load_" });
  try {
    const log = await FileLogStore.open(dir, quiet);
    await log.append(entries(1, 40, 1));
    await log.append(entries(41, 60, 2));
    await log.close();
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("FileLogStore: the first load after open gives what the scan verified", async () => {
  await withLog(async (dir) => {
    const log = await FileLogStore.open(dir, quiet);
    assertEntries((await log.load()).entries, [...entries(1, 40, 1), ...entries(41, 60, 2)]);
    // A second load reads the files again, and finds the same.
    assertEntries((await log.load()).entries, [...entries(1, 40, 1), ...entries(41, 60, 2)]);
    await log.close();
  });
});

Deno.test("FileLogStore: a load after appends past the open reads them too", async () => {
  await withLog(async (dir) => {
    const log = await FileLogStore.open(dir, quiet);
    await log.append(entries(61, 70, 3));
    assertEntries((await log.load()).entries, [
      ...entries(1, 40, 1),
      ...entries(41, 60, 2),
      ...entries(61, 70, 3),
    ]);
    await log.close();
  });
});

Deno.test("FileLogStore: a load after a conflicting suffix replaced entries of the same size gives the new ones", async () => {
  await withLog(async (dir) => {
    const log = await FileLogStore.open(dir, quiet);
    // Entries 51..60 again, term 3: the same bytes on disk but for their term.
    await log.append(entries(51, 60, 3));
    const got = (await log.load()).entries;
    assertEntries(got, [...entries(1, 40, 1), ...entries(41, 50, 2), ...entries(51, 60, 3)]);
    assert.equal(got.at(-1)!.term, 3);
    await log.close();
  });
});

Deno.test("FileLogStore: a log whose tail is the zeros written ahead opens and loads every entry", async () => {
  await withLog(async (dir) => {
    const [name] = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".seg"));
    const file = await Deno.open(`${dir}/${name}`, { write: true, append: true });
    await file.write(new Uint8Array(256 * 1024));
    file.close();
    const log = await FileLogStore.open(dir, quiet);
    assertEntries((await log.load()).entries, [...entries(1, 40, 1), ...entries(41, 60, 2)]);
    await log.append([entry(61, 2)]);
    assert.equal(log.lastIndex(), 61);
    await log.close();
  });
});
