/**
 * The CLI's output takes every byte of a line, also from a stream that takes a part at a time or
 * none for a while (a non-blocking pipe: test/sim/FINDINGS.md, 23). `consume` acks a message once
 * its line is out; `Deno.stdout.writeSync` wrote 65,536 of a 1 MB line to such a pipe and the
 * CLI took the line as written.
 */

import assert from "node:assert/strict";
import { writeAllSync } from "./io.ts";

Deno.test("a stream that takes a few bytes at a time, or none at times, gets the whole line", () => {
  const got: number[] = [];
  let calls = 0;
  const write = (b: Uint8Array) => {
    if (++calls % 2 === 1) return 0;
    const n = Math.min(5, b.length);
    got.push(...b.subarray(0, n));
    return n;
  };
  const line = new TextEncoder().encode("x".repeat(97) + "\n");
  writeAllSync(write, line);
  assert.deepEqual(new Uint8Array(got), line);
});

Deno.test("a stream that takes nothing for a minute fails the write; errors at once", () => {
  let t = 0;
  assert.throws(
    () => writeAllSync(() => 0, new Uint8Array(4), () => (t += 10_000)),
    /took nothing/,
  );
  for (const error of [new Deno.errors.BrokenPipe("gone"), new Deno.errors.WouldBlock("full")]) {
    let calls = 0;
    assert.throws(() =>
      writeAllSync(() => {
        calls++;
        throw error;
      }, new Uint8Array(4)), error.constructor as ErrorConstructor);
    assert.equal(calls, 1, "not written again: it may have written part");
  }
});
