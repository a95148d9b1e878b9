import assert from "node:assert/strict";
import { cutToDurable } from "./disk.ts";
import { FileLogStore } from "../../cluster/storage/mod.ts";
import { EntryKind } from "../../cluster/raft/mod.ts";

const seg = (first: number) => `${String(first).padStart(20, "0")}.seg`;

Deno.test("cutToDurable truncates the durable segment and removes newer ones", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/log`);
    await Deno.writeFile(`${dir}/log/${seg(1)}`, new Uint8Array(100).fill(1));
    await Deno.writeFile(`${dir}/log/${seg(50)}`, new Uint8Array(300).fill(2));
    await Deno.writeFile(`${dir}/log/${seg(90)}`, new Uint8Array(40).fill(3));
    await Deno.writeTextFile(`${dir}/durable_offset`, `${seg(50)} 120\n`);
    const what = await cutToDurable(dir);
    assert.equal((await Deno.stat(`${dir}/log/${seg(1)}`)).size, 100);
    assert.equal((await Deno.stat(`${dir}/log/${seg(50)}`)).size, 120);
    await assert.rejects(() => Deno.stat(`${dir}/log/${seg(90)}`));
    assert.match(what, /removed/);
    assert.match(what, /300 -> 120/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cutToDurable cuts nothing without a readable record", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/log`);
    await Deno.writeFile(`${dir}/log/${seg(1)}`, new Uint8Array(100));
    assert.equal(await cutToDurable(dir), "no durable offset recorded");
    await Deno.writeTextFile(`${dir}/durable_offset`, "");
    assert.match(await cutToDurable(dir), /unreadable/);
    assert.equal((await Deno.stat(`${dir}/log/${seg(1)}`)).size, 100);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileLogStore reports each durable end, and cutting there keeps every appended entry", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let last = "";
    const record = (path: string, bytes: number) => {
      last = `${path.slice(path.lastIndexOf("/") + 1)} ${bytes}\n`;
    };
    const log = await FileLogStore.open(`${dir}/log`, { afterSync: record, log: () => {} });
    const data = new Uint8Array(64).fill(7);
    for (let i = 1; i <= 20; i++) {
      await log.append([{ term: 1, index: i, kind: EntryKind.Normal, data }]);
    }
    await log.close();
    const [name, bytes] = last.trim().split(" ");
    // The reported end is where the records end: only the zeros the store writes ahead follow.
    const file = await Deno.readFile(`${dir}/log/${name}`);
    assert.equal(file[Number(bytes) - 1], 7, "the last record's data ends there");
    assert.ok(file.subarray(Number(bytes)).every((b) => b === 0), "zeros after it");
    // Bytes written after the last sync (as if the page cache held them) are cut away.
    const f = await Deno.open(`${dir}/log/${name}`, { append: true });
    await f.write(new Uint8Array(33).fill(9));
    f.close();
    await Deno.writeTextFile(`${dir}/durable_offset`, last);
    await cutToDurable(dir);
    const again = await FileLogStore.open(`${dir}/log`, { log: () => {} });
    assert.equal(again.lastIndex(), 20);
    await again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
