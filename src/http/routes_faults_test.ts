import assert from "node:assert/strict";
import { FaultTable } from "../../cluster/transport/mod.ts";
import { call, localApp } from "./testing/call.ts";

Deno.test("/v1/admin/faults exists only with a fault seam", async () => {
  const { app } = localApp();
  assert.equal((await call(app, "GET", "/v1/admin/faults")).body.type, "not_found");
});

Deno.test("/v1/admin/faults sets, lists and clears link faults", async () => {
  const faults = new FaultTable();
  const { app } = localApp({}, { faults });
  const set = await call(app, "PUT", "/v1/admin/faults", {
    peer: "n2",
    direction: "out",
    cut: true,
  });
  assert.equal(set.status, 200);
  assert.equal(faults.get("n2", "out")?.cut, true);
  assert.equal(faults.get("n2", "in"), undefined);
  const listed = await call(app, "GET", "/v1/admin/faults");
  assert.equal(listed.body.faults[0].peer, "n2");
  const bad = await call(app, "PUT", "/v1/admin/faults", {
    peer: "n2",
    direction: "up",
  });
  assert.equal(bad.body.type, "invalid_request");
  assert.equal(bad.body.errors[0].path, "body.direction");
  const prob = await call(app, "PUT", "/v1/admin/faults", {
    peer: "n3",
    direction: "both",
    dropProbability: 2,
  });
  assert.equal(prob.body.errors[0].path, "body.dropProbability");
  const cleared = await call(app, "DELETE", "/v1/admin/faults?peer=n2");
  assert.deepEqual(cleared.body.faults, []);
});
