import assert from "node:assert/strict";
import type { AppDeps } from "./context.ts";
import { ProblemError } from "./problems.ts";
import { readBarrier } from "./read.ts";

/** Just what readBarrier reads of the deps: the node's restoring flag and barrier, the limit. */
function deps(restoring: boolean | undefined, barriers: { n: number }): AppDeps {
  const node = {
    ...(restoring === undefined ? {} : { restoring: () => restoring }),
    readBarrier: () => {
      barriers.n++;
      return Promise.resolve({ ok: true });
    },
  };
  return { node, limits: { readTimeoutMs: 1000 } } as unknown as AppDeps;
}

Deno.test("readBarrier refuses even a stale read while the node restores its snapshot", async () => {
  const barriers = { n: 0 };
  for (const consistency of ["stale", "linearizable"] as const) {
    await assert.rejects(
      readBarrier(deps(true, barriers), consistency),
      (e: unknown) => e instanceof ProblemError && /restoring/.test(e.message),
    );
  }
  assert.equal(barriers.n, 0);
});

Deno.test("readBarrier: a stale read answers at once, a linearizable one asks the node", async () => {
  const barriers = { n: 0 };
  await readBarrier(deps(false, barriers), "stale");
  await readBarrier(deps(undefined, barriers), "stale");
  assert.equal(barriers.n, 0);
  await readBarrier(deps(false, barriers), "linearizable");
  assert.equal(barriers.n, 1);
});
