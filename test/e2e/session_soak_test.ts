import assert from "node:assert/strict";
import { runSoak } from "./session_soak.ts";

Deno.test({
  name:
    "e2e session soak (short): 20,000 writes from 64 lanes, a leader kill, early writes retried via leader and follower: none applied twice",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const r = await runSoak({ writes: 20_000, lanes: 64, early: 10, kills: 1 });
    assert.equal(r.writes, 20_000);
    assert.equal(r.kills, 1);
    assert.ok(r.attemptRetries > 0, "the kill made no write go again under its (session, seq)");
    assert.equal(r.retried, 640);
    assert.deepEqual(r.mismatches, []);
    assert.equal(r.published, r.writes, "published counts every write exactly once");
  },
});
