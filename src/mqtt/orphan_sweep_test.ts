/**
 * Sessions held by a node's earlier run are released even when the node's replica shows them only
 * after the first pass (a restart whose replay or snapshot took longer than the first pass's
 * 3 s), and a release that failed is tried again. Before, the release ran once, 3 s after start,
 * against whatever the replica held then: a session found later stayed held by a connection that
 * no longer existed, so its expiry never ran.
 *
 * @module
 */

import assert from "node:assert/strict";
import { watchOrphans } from "./takeover.ts";
import { answer, type FakeAnswer, testContext } from "./_testing_connection.ts";
import type { ApiRequest } from "./broker_api.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("an earlier run's session the replica shows late, or whose release failed, is released", async () => {
  const releases: string[] = [];
  // The replica's claims of node n1: two of its earlier run's, one of this run's (never released).
  const held = [
    { key: "a", holder: "n1/oldboot/1" },
    { key: "b", holder: "n1/oldboot/2" },
    { key: "c", holder: "n1/boot/3" },
  ];

  let failFirst = true;
  const fetch = (r: ApiRequest): FakeAnswer => {
    if (r.path.endsWith("/release")) {
      if (r.path.includes("/b/") && failFirst) {
        failFirst = false;
        return Promise.reject(new Error("no leader"));
      }
      releases.push(r.path);
      // The release commits: the replica no longer shows the claim held.
      const at = held.findIndex((c) => r.path.includes(`/claims/${c.key}/`));
      if (at >= 0) held.splice(at, 1);
      return answer(200, {});
    }
    return answer(404, {});
  };
  const ctx = testContext(fetch);
  // The replica shows none of them at the first pass (still replaying), then all three.
  let caughtUp = false;
  const claims = { ...ctx.claims, heldBy: () => caughtUp ? held : [] };
  const stop = watchOrphans({ ...ctx, claims }, "n1/", { firstMs: 1, everyMs: 20 });
  try {
    await sleep(30);
    assert.equal(releases.length, 0, "released before the replica showed them");
    caughtUp = true;
    // Bounded: up to 100 sweeps' time for both releases.
    for (let i = 0; i < 100 && releases.length < 2; i++) await sleep(20);
  } finally {
    stop();
  }
  const keys = releases.map((p) => p.split("/claims/")[1]).sort();
  assert.deepEqual(keys, ["a/release", "b/release"]);
});
