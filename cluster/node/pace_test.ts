import assert from "node:assert/strict";
import { slicePacer } from "./pace.ts";

/** Whether a macrotask queued before `pace()` ran before `pace()` resolved. */
async function yielded(pace: () => Promise<void>): Promise<boolean> {
  let ran = false;
  const t = setTimeout(() => ran = true, 0);
  await pace();
  clearTimeout(t);
  return ran;
}

Deno.test("slicePacer() yields to the event loop only once its slice is used up", async () => {
  let nowMs = 0;
  const pace = slicePacer(10, () => nowMs);
  nowMs = 9;
  assert.equal(await yielded(pace), false);
  nowMs = 10;
  assert.equal(await yielded(pace), true);
  // A new slice starts at the turn it gave.
  nowMs = 15;
  assert.equal(await yielded(pace), false);
  nowMs = 20;
  assert.equal(await yielded(pace), true);
});
