/**
 * Model test of the Raft core's bounded in-memory log (`RaftConfig.logCacheBytes`) over the file
 * store: random appends (following on, or replacing an uncommitted suffix), commits, snapshot
 * compactions and restarts, persisted as the driver persists them, against a plain array of
 * every entry. After every step, slices at random ranges and byte limits must give back the
 * model's entries byte for byte, whether held in memory or read back from the segments, and
 * the entries held must stay within the budget. Seeded; a failure names its seed and step.
 */

import assert from "node:assert/strict";
import { FileLogStore } from "../storage/mod.ts";
import { RaftLog } from "./log.ts";
import { type Entry, EntryKind, type EntryReader } from "./types.ts";

const SEEDS = 10;
const STEPS = 80;
/** Each entry counts for 24 bytes + 8..47 of data: a few entries fit. */
const CACHE_BYTES = 200;

/** An entry whose bytes follow from its index and term, 8..47 of them. */
function entry(index: number, term: number): Entry {
  const data = Uint8Array.from({ length: 8 + (index * 7) % 40 }, (_, i) => index * 31 + term + i);
  return { index, term, kind: EntryKind.Normal, data };
}

function assertEntries(actual: readonly Entry[], expected: readonly Entry[], at: string): void {
  const brief = (es: readonly Entry[]) => es.map((e) => `${e.index}@${e.term}`).join(",");
  assert.equal(brief(actual), brief(expected), at);
  for (let i = 0; i < expected.length; i++) {
    assert.deepEqual(actual[i].data, expected[i].data, `data of ${expected[i].index} at ${at}`);
  }
}

/** A seeded PRNG (mulberry32) returning [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface World {
  store: FileLogStore;
  log: RaftLog;
  /** Every entry after the snapshot, as the log must give it back. */
  model: Entry[];
  /** The entries after the snapshot that were persisted: what a restart finds. */
  durable: Entry[];
  snapshotIndex: number;
  snapshotTerm: number;
  term: number;
  /** Steps where some of the log's entries were not held (the read-back path ran). */
  stubbed: number;
}

const readerOf = (store: FileLogStore): EntryReader => ({
  readEntries: (lo, hi, max) => store.readEntries(lo, hi, max),
});

const storedSnapshot = (index: number, term: number) => ({
  meta: { index, term, conf: { voters: ["n1"], learners: [] } },
  data: new Uint8Array(0),
});

/** Persists what the log holds unstable, as the driver does, and marks it stable. */
async function persist(w: World): Promise<void> {
  const unstable = w.log.unstableEntries();
  if (unstable.length === 0) return;
  await w.store.append(unstable);
  const last = unstable[unstable.length - 1];
  w.log.stableTo(last.index, last.term);
  w.durable.length = unstable[0].index - w.snapshotIndex - 1;
  w.durable.push(...unstable);
}

async function step(random: () => number, w: World, dir: string): Promise<string> {
  const r = random();
  const last = w.log.lastIndex();
  if (r < 0.5) {
    // Replace an uncommitted suffix now and then (a new leader's entries), else follow on.
    const replace = random() < 0.25 && last > w.log.committed;
    const start = replace
      ? w.log.committed + 1 + Math.floor(random() * (last - w.log.committed))
      : last + 1;
    if (replace) w.term++;
    const count = 1 + Math.floor(random() * 6);
    const es = Array.from({ length: count }, (_, i) => entry(start + i, w.term));
    w.log.append(es);
    w.model.length = start - w.snapshotIndex - 1;
    w.model.push(...es);
    if (random() < 0.8) await persist(w);
    return `append ${start}..${start + count - 1}@${w.term}`;
  }
  if (r < 0.75) {
    await persist(w);
    const to = w.log.committed + Math.floor(random() * (w.log.lastIndex() - w.log.committed + 1));
    w.log.commitTo(to);
    w.log.appliedTo(to);
    return `commit ${to}`;
  }
  if (r < 0.9) {
    const applied = w.log.applied;
    if (applied <= w.snapshotIndex || applied > w.log.stable) return "nothing to compact";
    const at = w.snapshotIndex + 1 + Math.floor(random() * (applied - w.snapshotIndex));
    const term = w.log.term(at)!;
    w.log.compact(storedSnapshot(at, term));
    await w.store.compact(at);
    w.model = w.model.slice(at - w.snapshotIndex);
    w.durable = w.durable.slice(at - w.snapshotIndex);
    w.snapshotIndex = at;
    w.snapshotTerm = term;
    return `compact ${at}`;
  }
  // Restart: what is durable comes back; unstable entries are lost, as in a crash.
  await w.store.close();
  w.store = await FileLogStore.open(dir, { segmentBytesMax: 300, log: () => {} });
  const loaded = (await w.store.load()).entries.filter((e) => e.index > w.snapshotIndex);
  const commit = Math.min(w.log.committed, loaded.at(-1)?.index ?? w.snapshotIndex);
  w.log = new RaftLog(
    w.snapshotIndex > 0 ? storedSnapshot(w.snapshotIndex, w.snapshotTerm) : undefined,
    loaded,
    commit,
    { reader: readerOf(w.store), bytes: CACHE_BYTES },
  );
  assertEntries(loaded, w.durable, "restart");
  w.model = w.durable.slice();
  return `restart (log ${w.log.firstIndex()}..${w.log.lastIndex()}, commit ${commit})`;
}

/** Every slice the core may take gives back the model's entries; memory stays in budget. */
function check(random: () => number, w: World, at: string): void {
  const first = w.log.firstIndex();
  const last = w.log.lastIndex();
  assert.equal(last - first + 1, w.model.length, `length at ${at}`);
  if (w.model.length === 0) return;
  assertEntries(w.log.slice(first, last + 1), w.model, at);
  for (let k = 0; k < 4; k++) {
    const lo = first + Math.floor(random() * (last - first + 1));
    const hi = lo + 1 + Math.floor(random() * (last - lo + 1));
    const maxBytes = random() < 0.3 ? Infinity : Math.floor(random() * 300);
    const want = w.model.slice(lo - first, hi - first);
    let n = 0;
    for (let bytes = 0; n < want.length; n++) {
      bytes += want[n].data.length + 24;
      if (bytes > maxBytes && n > 0) break;
    }
    assertEntries(w.log.slice(lo, hi, maxBytes), want.slice(0, n), at);
    assertEntries([w.log.entry(lo)], [want[0]], at);
  }
  // Held beyond the budget: only what is not yet both applied and durable.
  let pinned = 0;
  for (const e of w.model) {
    if (e.index > Math.min(w.log.applied, w.log.stable)) pinned += e.data.length + 24;
  }
  assert.ok(w.log.bytesHeld <= Math.max(CACHE_BYTES, pinned), `bytes held at ${at}`);
  let all = 0;
  for (const e of w.model) all += e.data.length + 24;
  if (w.log.bytesHeld < all) w.stubbed++;
}

Deno.test("RaftLog with a small cache gives back every entry over the file store, across restarts", async () => {
  let stubbed = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const dir = await Deno.makeTempDir({ prefix: "qq_cache_" });
    const store = await FileLogStore.open(dir, { segmentBytesMax: 300, log: () => {} });
    const w: World = {
      store,
      log: new RaftLog(undefined, [], 0, { reader: readerOf(store), bytes: CACHE_BYTES }),
      model: [],
      durable: [],
      snapshotIndex: 0,
      snapshotTerm: 0,
      term: 1,
      stubbed: 0,
    };
    const random = mulberry32(seed);
    try {
      for (let i = 0; i < STEPS; i++) {
        const what = await step(random, w, dir);
        check(random, w, `seed ${seed} step ${i} (${what})`);
      }
    } finally {
      await w.store.close().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
    stubbed += w.stubbed;
  }
  assert.ok(stubbed > SEEDS * 10, `entries were read back at only ${stubbed} steps`);
});
