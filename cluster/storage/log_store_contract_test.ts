/**
 * One contract suite for every LogStore (like nats-server's testAllStoreAllPermutations): each
 * case runs against the memory store and the file store (with large and with tiny segments).
 * `reopen` closes and reopens the file stores, so every check also proves durability there.
 */

import assert from "node:assert/strict";
import type { Entry } from "../raft/mod.ts";
import type { LogStore } from "./log_store.ts";
import { FileLogStore } from "./file_log_store.ts";
import { MemoryLogStore } from "./memory_log_store.ts";
import { assertEntries, entries, entry } from "./_testing.ts";

interface Impl {
  readonly name: string;
  open(): Promise<
    { store: LogStore; reopen(s: LogStore): Promise<LogStore>; cleanup(): Promise<void> }
  >;
}

function fileImpl(name: string, segmentBytesMax: number): Impl {
  return {
    name,
    async open() {
      const dir = await Deno.makeTempDir({ prefix: "qq_log_" });
      const opts = { segmentBytesMax, log: () => {} };
      return {
        store: await FileLogStore.open(dir, opts),
        async reopen(s: LogStore) {
          await s.close();
          return await FileLogStore.open(dir, opts);
        },
        cleanup: () => Deno.remove(dir, { recursive: true }),
      };
    },
  };
}

const IMPLS: Impl[] = [
  {
    name: "MemoryLogStore",
    open: () =>
      Promise.resolve({
        store: new MemoryLogStore(),
        reopen: (s: LogStore) => Promise.resolve(s),
        cleanup: () => Promise.resolve(),
      }),
  },
  fileImpl("FileLogStore", 64 * 1024 * 1024),
  fileImpl("FileLogStore(200-byte segments)", 200),
];

type Case = (ctx: { store: LogStore; reopen(s: LogStore): Promise<LogStore> }) => Promise<void>;

/** Check the log holds exactly `expected` from `first`, then again after a reopen. */
async function expectLog(
  ctx: { reopen(s: LogStore): Promise<LogStore> },
  store: LogStore,
  first: number,
  expected: readonly Entry[],
): Promise<LogStore> {
  for (let round = 0; round < 2; round++) {
    if (round === 1) store = await ctx.reopen(store);
    const got = (await store.load()).entries.filter((e) => e.index >= first);
    assertEntries(got, expected);
    assert.equal(store.lastIndex(), expected.at(-1)?.index ?? first - 1, "lastIndex()");
    for (const e of expected) assert.equal(store.term(e.index), e.term, `term(${e.index})`);
    assert.equal(store.term(store.lastIndex() + 1), undefined);
    expectReads(store, expected);
  }
  return store;
}

/** What `readEntries` must return: as `RaftLog.slice`, entries while their bytes fit, at least one. */
function bytesPrefix(es: readonly Entry[], maxBytes: number): Entry[] {
  let bytes = 0;
  let n = 0;
  while (n < es.length) {
    bytes += es[n].data.length + 24;
    if (bytes > maxBytes && n > 0) break;
    n++;
  }
  return es.slice(0, n);
}

/** `readEntries` gives back `expected` whole, from every start, and cut by bytes. */
function expectReads(store: LogStore, expected: readonly Entry[]): void {
  const read = store.readEntries!.bind(store);
  if (expected.length === 0) return;
  const first = expected[0].index;
  const last = expected.at(-1)!.index;
  assertEntries(read(first, last + 1, Infinity), expected);
  for (let k = 0; k < expected.length; k += 3) {
    const from = expected.slice(k);
    assertEntries(read(from[0].index, last + 1, Infinity), from);
    for (const maxBytes of [0, 40, 100, 300]) {
      assertEntries(read(from[0].index, last + 1, maxBytes), bytesPrefix(from, maxBytes));
    }
    assertEntries(read(from[0].index, from[0].index + 1, Infinity), [from[0]]);
  }
  assert.throws(() => read(last + 1, last + 2, Infinity), /Cannot read/);
  assert.deepEqual(read(first, first, Infinity), []);
}

const CASES: Record<string, Case> = {
  "append() then load() returns the entries in order": async (ctx) => {
    await ctx.store.append(entries(1, 5, 1));
    await ctx.store.append(entries(6, 9, 2));
    assert.equal(ctx.store.firstIndex(), 1);
    const s = await expectLog(ctx, ctx.store, 1, [...entries(1, 5, 1), ...entries(6, 9, 2)]);
    await s.close();
  },
  "append() calls not awaited are applied in call order": async (ctx) => {
    const calls = Array.from(
      { length: 40 },
      (_, i) => ctx.store.append(entries(i * 3 + 1, i * 3 + 3, 1)),
    );
    await Promise.all(calls);
    const s = await expectLog(ctx, ctx.store, 1, entries(1, 120, 1));
    await s.close();
  },
  "append() with a lower start replaces the suffix": async (ctx) => {
    await ctx.store.append(entries(1, 20, 1));
    await ctx.store.append(entries(8, 10, 2));
    let s = await expectLog(ctx, ctx.store, 1, [...entries(1, 7, 1), ...entries(8, 10, 2)]);
    await s.append(entries(11, 12, 2));
    await s.append(entries(3, 4, 3)); // a second conflict, after a reopen for the file store
    s = await expectLog(ctx, s, 1, [...entries(1, 2, 1), ...entries(3, 4, 3)]);
    await s.close();
  },
  "append() replacing the whole log keeps its start": async (ctx) => {
    await ctx.store.append(entries(1, 10, 1));
    await ctx.store.append(entries(1, 3, 2));
    const s = await expectLog(ctx, ctx.store, 1, entries(1, 3, 2));
    await s.close();
  },
  "append() queued after a truncating append continues it": async (ctx) => {
    await ctx.store.append(entries(1, 10, 1));
    const a = ctx.store.append(entries(5, 6, 2));
    const b = ctx.store.append(entries(7, 8, 2));
    await Promise.all([a, b]);
    const s = await expectLog(ctx, ctx.store, 1, [...entries(1, 4, 1), ...entries(5, 8, 2)]);
    await s.close();
  },
  "append() rejects a gap, a lower term and non-contiguous entries, leaving the log": async (
    ctx,
  ) => {
    await ctx.store.append(entries(1, 5, 2));
    await assert.rejects(ctx.store.append(entries(7, 8, 2)), /ends at index 5/);
    await assert.rejects(ctx.store.append([entry(6, 1)]), /term 1 after term 2/);
    await assert.rejects(ctx.store.append([entry(6, 2), entry(8, 2)]), /does not follow/);
    await ctx.store.append(entries(6, 6, 2)); // the store still works
    const s = await expectLog(ctx, ctx.store, 1, entries(1, 6, 2));
    await s.close();
  },
  "append() of no entries resolves and changes nothing": async (ctx) => {
    await ctx.store.append(entries(1, 3, 1));
    await ctx.store.append([]);
    const s = await expectLog(ctx, ctx.store, 1, entries(1, 3, 1));
    await s.close();
  },
  "compact() forgets a prefix and appends continue": async (ctx) => {
    await ctx.store.append(entries(1, 30, 1));
    await ctx.store.compact(12);
    assert.equal(ctx.store.firstIndex(), 13);
    assert.equal(ctx.store.term(12), undefined);
    assert.throws(() => ctx.store.readEntries!(12, 14, Infinity), /Cannot read/);
    await assert.rejects(ctx.store.append(entries(5, 6, 2)), /compacted/);
    await ctx.store.append(entries(31, 32, 1));
    await ctx.store.compact(3); // behind firstIndex: no-op
    assert.equal(ctx.store.firstIndex(), 13);
    const s = await expectLog(ctx, ctx.store, 13, entries(13, 32, 1));
    assert.ok(s.firstIndex() <= 13, "a reopened log starts at or before the compaction point");
    await s.close();
  },
  "compact() through the last index empties the log; it restarts anywhere": async (ctx) => {
    await ctx.store.append(entries(1, 10, 1));
    await ctx.store.compact(10);
    assert.equal(ctx.store.firstIndex(), 11);
    assert.equal(ctx.store.lastIndex(), 10);
    assertEntries((await ctx.store.load()).entries, []);
    await ctx.store.compact(50); // a snapshot from the leader, past the log
    let s = await expectLog(ctx, ctx.store, 51, []);
    assert.equal(s.firstIndex(), 51, "an empty log keeps its start across a reopen");
    await s.append(entries(51, 55, 3));
    s = await expectLog(ctx, s, 51, entries(51, 55, 3));
    assert.equal(s.firstIndex(), 51);
    await s.close();
  },
  "reset() discards every entry and sets the next index": async (ctx) => {
    await ctx.store.append(entries(1, 20, 1));
    await ctx.store.reset(8);
    assert.equal(ctx.store.firstIndex(), 8);
    assert.equal(ctx.store.lastIndex(), 7);
    let s = await expectLog(ctx, ctx.store, 8, []);
    assert.equal(s.firstIndex(), 8, "an empty log keeps its start across a reopen");
    await s.append(entries(8, 9, 4));
    s = await expectLog(ctx, s, 8, entries(8, 9, 4));
    await s.close();
  },
  "close() makes later calls reject": async (ctx) => {
    await ctx.store.append(entries(1, 2, 1));
    await ctx.store.close();
    await assert.rejects(ctx.store.append(entries(3, 3, 1)), /closed/);
    assert.throws(() => ctx.store.readEntries!(1, 2, Infinity), /closed/);
  },
  "readEntries() reads what a replaced suffix left, and what follows it": async (ctx) => {
    await ctx.store.append(entries(1, 30, 1));
    assertEntries(ctx.store.readEntries!(5, 31, Infinity), entries(5, 30, 1));
    await ctx.store.append(entries(20, 25, 2));
    assertEntries(ctx.store.readEntries!(18, 26, Infinity), [
      ...entries(18, 19, 1),
      ...entries(20, 25, 2),
    ]);
    assert.throws(() => ctx.store.readEntries!(24, 27, Infinity), /Cannot read/);
    await ctx.store.close();
  },
};

for (const impl of IMPLS) {
  for (const [name, run] of Object.entries(CASES)) {
    Deno.test(`${impl.name}: ${name}`, async () => {
      const { store, reopen, cleanup } = await impl.open();
      try {
        await run({ store, reopen });
      } finally {
        await store.close().catch(() => {});
        await cleanup();
      }
    });
  }
}
