/**
 * The link fault seam on a real node process: `--test-faults` serves it at `/v1/admin/faults`
 * (docs/transport.md) with the registry's problem answers; the chaos suite drives it so.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Nodes } from "./nodes.ts";
import { assertProblem, assertStatus, call } from "./http.ts";

Deno.test("e2e fault seam: a --test-faults node sets, lists and clears link faults", async () => {
  const nodes = await Nodes.start({ count: 1, storage: "memory", testFaults: true });
  const base = nodes.url("n1");
  try {
    const set = await call(base, "PUT", "/v1/admin/faults", {
      body: { peer: "n2", direction: "out", cut: true },
    });
    assertStatus(set, 200);
    assert.deepEqual(set.body.faults.map((f: { peer: string }) => f.peer), ["n2"]);
    const listed = await call(base, "GET", "/v1/admin/faults");
    assert.equal(listed.body.faults.length, 1);
    const bad = await call(base, "PUT", "/v1/admin/faults", {
      body: { peer: "n2", direction: "sideways" },
    });
    assert.equal(assertProblem(bad, 400, "invalid_request").errors[0].path, "body.direction");
    const cleared = await call(base, "DELETE", "/v1/admin/faults");
    assert.deepEqual(cleared.body.faults, []);
  } finally {
    await nodes.stop();
  }
});

Deno.test("e2e fault seam: a node without --test-faults has no seam", async () => {
  const nodes = await Nodes.start({ count: 1, storage: "memory" });
  try {
    assertProblem(await call(nodes.url("n1"), "GET", "/v1/admin/faults"), 404, "not_found");
  } finally {
    await nodes.stop();
  }
});
