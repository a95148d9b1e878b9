import assert from "node:assert/strict";
import { Identities } from "./identity.ts";
import type { Message } from "../raft/mod.ts";

const msg = (from: string, extra: Partial<Message> = {}): Message => ({
  type: "append_resp",
  clusterId: "c",
  from,
  to: "n1",
  term: 1,
  logTerm: 0,
  index: 0,
  commit: 0,
  ...extra,
});

Deno.test("Identities.check: drops a member's message from another incarnation, spots a stale self", () => {
  const ids = new Identities("n1", "own");
  ids.applyConfChange({ op: "identify", nodeId: "n2", context: "inc-a" });
  assert.deepEqual(ids.check(msg("n2", { incarnation: "inc-a" })), { kind: "accept" });
  assert.deepEqual(ids.check(msg("n2", { incarnation: "inc-b" })), {
    kind: "stale_sender",
    recorded: "inc-a",
    got: "inc-b",
  });
  // An older version sends no incarnation: accepted (nothing to compare).
  assert.deepEqual(ids.check(msg("n2")), { kind: "accept" });
  assert.deepEqual(ids.check(msg("n3", { toIncarnation: "other" })), {
    kind: "stale_self",
    recorded: "other",
  });
  assert.deepEqual(ids.check(msg("n3", { toIncarnation: "own" })), { kind: "accept" });
  // Removed: forgotten, so the id can come back with new data once added again.
  ids.applyConfChange({ op: "remove", nodeId: "n2" });
  assert.deepEqual(ids.check(msg("n2", { incarnation: "inc-b" })), { kind: "accept" });
});

Deno.test("Identities.toRecord: voters only, and only once every member has sent an incarnation", () => {
  const ids = new Identities("n1", "own");
  const conf = { voters: ["n1", "n2"], learners: ["n3"] };
  ids.check(msg("n2", { incarnation: "i2" }));
  assert.equal(ids.toRecord(conf), undefined, "n3 has sent none: it may be an older version");
  ids.check(msg("n3", { incarnation: "i3" }));
  assert.deepEqual(ids.toRecord(conf), { op: "identify", nodeId: "n1", context: "own" });
  ids.applyConfChange({ op: "identify", nodeId: "n1", context: "own" });
  assert.deepEqual(ids.toRecord(conf), { op: "identify", nodeId: "n2", context: "i2" });
  ids.applyConfChange({ op: "identify", nodeId: "n2", context: "i2" });
  assert.equal(ids.toRecord(conf), undefined, "learner n3 waits for its promotion");
});

Deno.test("Identities.stamp: the sender's incarnation, the receiver's recorded one when asked; off without own", () => {
  const ids = new Identities("n1", "own");
  ids.applyConfChange({ op: "identify", nodeId: "n2", context: "i2" });
  const m = { ...msg("n1"), to: "n2" };
  assert.deepEqual(ids.stamp(m, true), { ...m, incarnation: "own", toIncarnation: "i2" });
  assert.deepEqual(ids.stamp(m, false), { ...m, incarnation: "own" });
  assert.deepEqual(ids.stamp({ ...m, to: "n9" }, true), { ...m, to: "n9", incarnation: "own" });
  const off = new Identities("n1", undefined);
  assert.equal(off.stamp(m, true), m);
  assert.deepEqual(off.check(msg("n2", { toIncarnation: "x" })), { kind: "accept" });
});
