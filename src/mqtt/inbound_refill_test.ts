import assert from "node:assert/strict";
import { harness, publish, published, settle } from "./_testing_inbound.ts";

/** Lets the inbound half's follow-ups of a step run, without a timer turn. */
async function ticks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/**
 * Batch 1-6 answered: 1-4 go at once, 5-6 are held one per read. The client answers PUBACK 1-4
 * with 7 and then nothing more (it is late: a loaded machine) until the refill wait's bound has
 * passed and the other held answers went. Returns the harness with the wait run out.
 */
async function lateRefill() {
  const h = harness();
  for (let id = 1; id <= 6; id++) h.inbound.publish(publish(id));
  h.inbound.flush();
  await settle();
  // A commit of some 30 ms: the refill wait's bound and the longer wait are each 10 ms (the
  // most), so the test's next timer turn comes well before the second bound.
  await new Promise((r) => setTimeout(r, 30));
  h.requests[0].answer(201, published(6));
  await ticks();
  assert.deepEqual(h.acks, [1, 2, 3, 4], "two answers held");
  h.inbound.publish(publish(7));
  h.inbound.flush();
  await ticks();
  assert.deepEqual(h.acks, [1, 2, 3, 4, 5], "one held answer per read");
  // The bound (batch 1's commit time, real time) passes: the other held answers go.
  for (let i = 0; i < 500 && h.acks.length < 6; i++) await settle();
  assert.deepEqual(h.acks, [1, 2, 3, 4, 5, 6]);
  return h;
}

Deno.test("a refill still under half when the wait runs out waits on for its bulk, in one batch", async () => {
  const { inbound, requests, acks } = await lateRefill();
  // 7 alone is not sent: it would take a commit round and an entry by itself, and 8-12 would
  // arrive during it and wait for it (before: batches of 1-4 and then the rest of the window).
  assert.equal(requests.length, 1, "7 waits for the bulk of the refill");
  for (let id = 8; id <= 12; id++) inbound.publish(publish(id));
  inbound.flush();
  await settle();
  assert.equal(requests.length, 2);
  assert.deepEqual(requests[1].messages.map((m) => m.body), [
    "m7",
    "m8",
    "m9",
    "m10",
    "m11",
    "m12",
  ]);
  // Answered after the commit, in PUBLISH order, nothing before it.
  assert.deepEqual(acks, [1, 2, 3, 4, 5, 6], "no PUBACK before its batch is committed");
  requests[1].answer(201, published(6, 7));
  for (let i = 0; i < 500 && acks.length < 12; i++) await settle();
  assert.deepEqual(acks, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
});

Deno.test("a refill that never comes: what is here goes once the longer wait runs out", async () => {
  const { requests, acks } = await lateRefill();
  assert.equal(requests.length, 1);
  for (let i = 0; i < 500 && requests.length < 2; i++) await settle();
  assert.equal(requests.length, 2, "7 goes after the second bound");
  assert.deepEqual(requests[1].messages.map((m) => m.body), ["m7"]);
  assert.deepEqual(acks, [1, 2, 3, 4, 5, 6]);
  requests[1].answer(201, published(1, 7));
  for (let i = 0; i < 500 && acks.length < 7; i++) await settle();
  assert.deepEqual(acks, [1, 2, 3, 4, 5, 6, 7]);
});
