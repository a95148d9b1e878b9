import assert from "node:assert/strict";
import { sessionExpiryMs, takenOver } from "./session.ts";

Deno.test("takenOver: only a later take by another holder; a view that has not applied this connection's take is none", () => {
  const mine = { holder: "n1/b/me", stamp: 7 };
  // This node has not applied the take yet: it shows the holder before (or none at all).
  assert.equal(takenOver({ holder: "n2/b/before", stamp: 5 }, mine), false);
  assert.equal(takenOver({ holder: null, stamp: 5 }, mine), false);
  assert.equal(takenOver(undefined, mine), false);
  // Its own take, applied.
  assert.equal(takenOver({ holder: "n1/b/me", stamp: 7 }, mine), false);
  // Another connection took it after.
  assert.equal(takenOver({ holder: "n3/b/next", stamp: 9 }, mine), true);
});

Deno.test("sessionExpiryMs: v5's interval (0xFFFFFFFF never, capped at 30 days), v3.1.1's clean session", () => {
  assert.equal(sessionExpiryMs(true, false, undefined), 0);
  assert.equal(sessionExpiryMs(true, true, 60), 60_000);
  assert.equal(sessionExpiryMs(true, false, 0xffffffff), undefined);
  assert.equal(sessionExpiryMs(true, false, 0xfffffffe), 30 * 24 * 3600 * 1000);
  assert.equal(sessionExpiryMs(false, true, 60), 0);
  assert.equal(sessionExpiryMs(false, false, undefined), undefined);
});
