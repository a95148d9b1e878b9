/**
 * Moving leadership in end-to-end tests as the API promises it (docs/http.md, "Leadership
 * transfer"): `POST /v1/cluster/leadership-transfer` with `"wait": true` answers once the outcome
 * is known, 200 when another node leads or 409 `conflict` when the leader abandoned the transfer
 * (its target did not take over within an election timeout, e.g. on a starved machine) or was
 * elected again; the cure for a 409 is to ask again.
 *
 * @module
 */

import assert from "node:assert/strict";
import { call } from "./http.ts";

/** Requests per move at most: a 409 is legitimate, three in a row on a 3-node cluster are not. */
const ATTEMPTS = 3;

/**
 * Moves leadership off `leader` (at `url`) to `to`, or to the most up-to-date follower; asks
 * again after a 409, at most `ATTEMPTS` times. Returns the new leader the 200 names.
 */
export async function moveLeadership(url: string, leader: string, to?: string): Promise<string> {
  const answers: string[] = [];
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const moved = await call(url, "POST", "/v1/cluster/leadership-transfer", {
      body: { ...(to === undefined ? {} : { to }), wait: true },
      timeoutMs: 20_000, // the node watches for 10 s at most
    });
    if (moved.status === 200) {
      assert.notEqual(moved.body.leaderId, leader, moved.text);
      assert.ok(moved.body.leaderId, moved.text);
      return moved.body.leaderId;
    }
    answers.push(`${moved.status} ${moved.text}`);
    assert.equal(moved.status, 409, `the transfer's outcome: ${moved.text}`);
  }
  throw new Error(`Leadership did not move off ${leader} in ${ATTEMPTS} transfers: ${answers}`);
}
