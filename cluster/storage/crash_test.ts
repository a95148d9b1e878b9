/**
 * kill -9 tests with real processes: a child writes and reports what each resolved write made
 * durable; the parent SIGKILLs it at seeded random moments and checks, after reopening, that
 * everything reported is there and intact (docs/reliability.md item 1).
 */

import assert from "node:assert/strict";
import { FileLogStore } from "./file_log_store.ts";
import { FileHardStateStore } from "./file_hard_state_store.ts";
import { assertEntries, crashEntry, mulberry32 } from "./_testing.ts";

const CHILD = new URL("./_testing_crash_child.ts", import.meta.url).pathname;
const ROUNDS = 6;
const ROUND_MS_MAX = 15_000;

interface Round {
  readonly ready: number;
  /** The highest `durable` value printed before the kill. */
  readonly durable: number;
}

/** Run the child, SIGKILL it `killAfterMs` after it is ready, and collect what it printed. */
async function runAndKill(
  mode: string,
  dir: string,
  seed: number,
  killAfterMs: number,
): Promise<Round> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, mode, dir, String(seed)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const guard = setTimeout(() => child.kill("SIGKILL"), ROUND_MS_MAX);
  let ready = -1;
  let durable = -1;
  let text = "";
  try {
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      text += decoder.decode(chunk, { stream: true });
      const lines = text.split("\n");
      text = lines.pop()!;
      for (const line of lines) {
        const [word, n] = line.split(" ");
        if (word === "ready" && ready < 0) {
          ready = Number(n);
          setTimeout(() => child.kill("SIGKILL"), killAfterMs);
        } else if (word === "durable") durable = Math.max(durable, Number(n));
      }
    }
  } finally {
    clearTimeout(guard);
  }
  const status = await child.status;
  const stderr = new TextDecoder().decode((await child.stderr.getReader().read()).value);
  assert.ok(ready >= 0, `the child never became ready (exit ${status.code}): ${stderr}`);
  assert.equal(status.signal, "SIGKILL", `the child ended by itself: ${stderr}`);
  return { ready, durable };
}

Deno.test("FileLogStore survives kill -9: every index reported durable is present and intact", async () => {
  const dir = await Deno.makeTempDir({ prefix: "qq_crash_log_" });
  const seed = 0x5eed1;
  const random = mulberry32(seed);
  try {
    let total = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const { ready, durable } = await runAndKill("log", dir, seed + round, 30 + random() * 400);
      const log = await FileLogStore.open(dir, { log: () => {} });
      const msg = `seed ${seed} round ${round}: durable ${durable}, last ${log.lastIndex()}`;
      assert.ok(log.lastIndex() >= Math.max(durable, ready), msg);
      assert.ok(log.firstIndex() <= Math.max(durable, ready) + 1, msg);
      const { entries } = await log.load();
      const first = log.firstIndex();
      const expected = Array.from(
        { length: log.lastIndex() - first + 1 },
        (_, i) => crashEntry(first + i),
      );
      assertEntries(entries, expected); // contiguous, and every byte as written
      total += Math.max(0, durable - ready);
      if (Deno.env.get("QQ_CRASH_VERBOSE")) console.log(msg);
      await log.close();
    }
    assert.ok(total > 0, "the child made progress in some round");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileHardStateStore survives kill -9 during save(): old or new, never garbage", async () => {
  const dir = await Deno.makeTempDir({ prefix: "qq_crash_hs_" });
  const seed = 0x5eed2;
  const random = mulberry32(seed);
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const r = await runAndKill("hard_state", dir, seed + round, 30 + random() * 300);
      const durable = Math.max(r.ready, r.durable);
      const hs = await new FileHardStateStore(dir).load();
      // Old or new: before the first save ever resolved (round 0, killed early on a busy
      // machine) the old state is none at all; once any term was durable there must be one.
      if (hs === undefined && durable === 0) continue;
      assert.ok(hs, `round ${round}: a hard state (durable ${durable})`);
      assert.ok(
        hs.term >= durable && hs.term <= durable + 1,
        `round ${round}: ${hs.term} vs ${durable}`,
      );
      assert.deepEqual(hs, { term: hs.term, vote: `n${hs.term}`, commit: hs.term * 3 });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
