import assert from "node:assert/strict";
import { runSeed } from "./run.ts";

Deno.test("runSeed replays the same seed to a byte-identical trace", () => {
  const a = runSeed({ seed: 12345, nodes: 5, steps: 300, trace: true });
  const b = runSeed({ seed: 12345, nodes: 5, steps: 300, trace: true });
  assert.ok(a.trace.length > 100, `a trace of ${a.trace.length} lines is too short to compare`);
  assert.equal(a.trace.join("\n"), b.trace.join("\n"));
  assert.deepEqual(a.stats, b.stats);
});

Deno.test("runSeed gives different runs for different seeds", () => {
  const a = runSeed({ seed: 1, nodes: 3, steps: 200, trace: true });
  const b = runSeed({ seed: 2, nodes: 3, steps: 200, trace: true });
  assert.notEqual(a.trace.join("\n"), b.trace.join("\n"));
});

Deno.test("runSeed commits client commands and ends with a quiet phase", () => {
  const r = runSeed({ seed: 4, nodes: 3, steps: 500 });
  assert.deepEqual(r.violations, []);
  assert.ok(r.steps > 500, "the quiet phase adds steps");
  assert.ok(r.stats.committed > 10, `only ${r.stats.committed} commands committed`);
});
