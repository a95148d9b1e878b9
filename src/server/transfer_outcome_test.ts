import assert from "node:assert/strict";
import type { RaftStatus } from "../../cluster/raft/mod.ts";
import { awaitTransfer, transferOutcome } from "./transfer_outcome.ts";

/** The fields `transferOutcome` reads; the rest of a status does not matter here. */
function status(s: Pick<RaftStatus, "role" | "term" | "leaderId" | "leadTransferee">): RaftStatus {
  return { id: "n1", ...s } as RaftStatus;
}

const started = status({ role: "leader", term: 4, leaderId: "n1", leadTransferee: "n2" });

Deno.test("transferOutcome: under way, moved, abandoned, elected again", () => {
  assert.equal(transferOutcome(started, started), undefined, "under way");
  const steppedDown = status({ role: "follower", term: 5, leaderId: "", leadTransferee: "" });
  assert.equal(transferOutcome(started, steppedDown), undefined, "an election is under way");
  const follows = status({ role: "follower", term: 5, leaderId: "n2", leadTransferee: "" });
  assert.deepEqual(transferOutcome(started, follows), { kind: "moved", leaderId: "n2" });
  const abandoned = status({ role: "leader", term: 4, leaderId: "n1", leadTransferee: "" });
  assert.equal(transferOutcome(started, abandoned)?.kind, "stayed");
  assert.match(JSON.stringify(transferOutcome(started, abandoned)), /abandoned/);
  const again = status({ role: "leader", term: 6, leaderId: "n1", leadTransferee: "" });
  assert.match(JSON.stringify(transferOutcome(started, again)), /elected again/);
});

Deno.test("awaitTransfer: watches until an outcome, or says unknown after the wait", async () => {
  const seen = [
    started,
    status({ role: "follower", term: 5, leaderId: "", leadTransferee: "" }),
    status({ role: "follower", term: 5, leaderId: "n3", leadTransferee: "" }),
  ];
  let i = 0;
  const out = await awaitTransfer(() => seen[Math.min(i++, 2)], started, {
    waitMs: 1_000,
    everyMs: 1,
  });
  assert.deepEqual(out, { kind: "moved", leaderId: "n3" });
  assert.equal(i, 3);
  const never = await awaitTransfer(() => started, started, { waitMs: 5, everyMs: 1 });
  assert.deepEqual(never, { kind: "unknown" });
});
