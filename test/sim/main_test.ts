/** The campaign command as a user runs it, its output redirected (as in CI or a log file). */
import assert from "node:assert/strict";

Deno.test("a simulator campaign redirected to a file prints its result and no progress line", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-env",
      "--allow-read",
      "test/sim/main.ts",
      "--seeds",
      "2",
      "--steps",
      "50",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stdout + stderr);
  assert.match(stdout, /^sim: 2 seeds, \d+ steps, 0 violations$/m);
  assert.doesNotMatch(stderr, /seeds\/s/);
});
