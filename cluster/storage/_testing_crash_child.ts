/**
 * The child process of `crash_test.ts`: it writes to storage as fast as it can and prints, for
 * each resolved write, what is now durable, until the parent SIGKILLs it.
 *
 * Usage: `deno run -A _testing_crash_child.ts log|hard_state <dir> <seed>`
 * Prints `ready <lastIndex>` once open, then `durable <n>` lines.
 *
 * @module
 */

import { FileLogStore } from "./file_log_store.ts";
import { FileHardStateStore } from "./file_hard_state_store.ts";
import { crashEntry, mulberry32 } from "./_testing.ts";

const RUN_MS_MAX = 20_000; // bounded even if the parent never kills us
const encoder = new TextEncoder();
const say = (line: string) => Deno.stdout.writeSync(encoder.encode(line + "\n"));

async function runLog(dir: string, seed: number): Promise<void> {
  const random = mulberry32(seed);
  const log = await FileLogStore.open(dir, { segmentBytesMax: 16 * 1024, log: () => {} });
  let next = log.lastIndex() + 1;
  say(`ready ${log.lastIndex()}`);
  const deadline = Date.now() + RUN_MS_MAX;
  const worker = async () => {
    while (Date.now() < deadline) {
      const count = 1 + Math.floor(random() * 40);
      const batch = Array.from({ length: count }, (_, i) => crashEntry(next + i));
      next += count;
      await log.append(batch);
      say(`durable ${batch[count - 1].index}`);
      if (random() < 0.02 && next > 2000) await log.compact(next - 1500);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function runHardState(dir: string): Promise<void> {
  const store = new FileHardStateStore(dir);
  const start = (await store.load())?.term ?? 0;
  say(`ready ${start}`);
  const deadline = Date.now() + RUN_MS_MAX;
  for (let term = start + 1; Date.now() < deadline; term++) {
    await store.save({ term, vote: `n${term}`, commit: term * 3 });
    say(`durable ${term}`);
  }
}

const [mode, dir, seed] = Deno.args;
if (mode === "log") await runLog(dir, Number(seed));
else if (mode === "hard_state") await runHardState(dir);
else throw new Error(`Unknown mode ${mode}`);
