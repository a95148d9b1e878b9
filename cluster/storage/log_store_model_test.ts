/**
 * Model-based test: random sequences of append (following on or replacing a suffix), compact,
 * reset and reopen run against FileLogStore (tiny segments) and MemoryLogStore (the model);
 * after every step both must hold the same entries. Seeded; a failure names its seed and step.
 */

import assert from "node:assert/strict";
import { FileLogStore } from "./file_log_store.ts";
import { MemoryLogStore } from "./memory_log_store.ts";
import type { LogStore } from "./log_store.ts";
import { assertEntries, entry, mulberry32 } from "./_testing.ts";

const SEEDS = 12;
const STEPS = 60;

async function step(
  random: () => number,
  stores: LogStore[],
  term: { value: number },
): Promise<string> {
  const model = stores[0];
  const first = model.firstIndex();
  const last = model.lastIndex();
  const r = random();
  if (r < 0.6 || last < first) {
    const replace = random() < 0.3 && last >= first;
    const start = replace ? first + Math.floor(random() * (last - first + 1)) : last + 1;
    if (replace) term.value++;
    const count = 1 + Math.floor(random() * 12);
    const es = Array.from({ length: count }, (_, i) => entry(start + i, term.value));
    await Promise.all(stores.map((s) => s.append(es)));
    return `append ${start}..${start + count - 1}@${term.value}`;
  }
  if (r < 0.8) {
    const through = first - 1 + Math.floor(random() * (last - first + 2));
    await Promise.all(stores.map((s) => s.compact(through)));
    return `compact ${through}`;
  }
  if (r < 0.85) {
    const next = last + 1 + Math.floor(random() * 5);
    await Promise.all(stores.map((s) => s.reset(next)));
    return `reset ${next}`;
  }
  return "reopen";
}

/** A few random `readEntries` ranges and byte limits: both stores give back the same entries. */
function expectSameReads(random: () => number, model: LogStore, file: LogStore, at: string) {
  const first = model.firstIndex();
  const last = model.lastIndex();
  if (last < first) return;
  for (let k = 0; k < 4; k++) {
    const lo = first + Math.floor(random() * (last - first + 1));
    const hi = lo + 1 + Math.floor(random() * (last - lo + 1));
    const maxBytes = random() < 0.3 ? Infinity : Math.floor(random() * 400);
    const want = model.readEntries!(lo, hi, maxBytes);
    assert.ok(want.length >= 1 && want[0].index === lo, `the model reads ${lo} at ${at}`);
    assertEntries(file.readEntries!(lo, hi, maxBytes), want);
  }
}

Deno.test("FileLogStore agrees with MemoryLogStore over random operations and reopens", async () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const dir = await Deno.makeTempDir({ prefix: "qq_model_" });
    const opts = { segmentBytesMax: 150 + seed * 20, log: () => {} };
    const model = new MemoryLogStore();
    let file = await FileLogStore.open(dir, opts);
    const random = mulberry32(seed);
    const term = { value: 1 };
    try {
      for (let i = 0; i < STEPS; i++) {
        const what = await step(random, [model, file], term);
        if (what === "reopen") {
          await file.close();
          file = await FileLogStore.open(dir, opts);
        }
        const at = `seed ${seed} step ${i} (${what})`;
        assert.equal(file.lastIndex(), model.lastIndex(), `lastIndex() at ${at}`);
        assert.ok(file.firstIndex() <= model.firstIndex(), `firstIndex() at ${at}`);
        const got = (await file.load()).entries.filter((e) => e.index >= model.firstIndex());
        assertEntries(got, (await model.load()).entries);
        expectSameReads(random, model, file, at);
      }
    } finally {
      await file.close().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  }
});
