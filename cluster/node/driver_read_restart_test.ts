/**
 * ReadIndex keys must not repeat across restarts (docs/reliability.md item 11). A follower's read key was
 * `${id}:${counter}` with the counter back at 0 in each process, so an answer meant for the
 * previous incarnation, still in flight, settled a new read of the same key with an index from
 * before writes that were acknowledged ahead of that read: a stale "linearizable" read.
 */
import assert from "node:assert/strict";
import type { DriverReadOutcome } from "./driver.ts";
import { enc, FileCluster } from "./_testing_cluster.ts";

// The waits below tick until the awaited step happened: it follows real fsyncs, which on a
// loaded machine take many ticks, so the bound is generous and the loop ends as soon as it holds.
const WAIT_TICKS = 2_000;

Deno.test("an answer to a read of a previous incarnation never settles a read of the restarted node (docs/reliability.md item 11)", async () => {
  const c = await FileCluster.start(["a", "b", "c"], 1000);
  try {
    const leader = await c.leader();
    const f = c.ids.find((id) => id !== leader.id)!;
    c.hold = (m) => m.type === "read_index_resp" && m.to === f;
    // A follower that has not heard from the leader yet answers a read `no_leader` at once.
    for (let i = 0; i < WAIT_TICKS && c.drivers.get(f)!.status().leaderId === ""; i++) {
      await c.ticks(1);
    }
    const first = c.drivers.get(f)!.readIndex(10_000);
    for (let i = 0; i < WAIT_TICKS && c.held.length === 0; i++) await c.ticks(1);
    // On a loaded machine the follower may ask again before the answer lands: each ask is
    // answered, so the previous incarnation can have more than one answer held.
    const old = c.held.length;
    assert.ok(old >= 1, "the leader answered the first read");
    const restarted = await c.restart(f);
    assert.deepEqual(await first, { ok: false, reason: "closed" });
    const w = await leader.propose(enc("w"), 2000);
    assert.ok(w.ok);
    for (let i = 0; i < WAIT_TICKS && restarted.status().leaderId === ""; i++) await c.ticks(1);

    let settled: DriverReadOutcome | undefined;
    const second = restarted.readIndex(10_000).then((o) => (settled = o));
    for (let i = 0; i < WAIT_TICKS && c.held.length <= old; i++) await c.ticks(1);
    assert.ok(c.held.length > old, "the leader answered the second read");
    const stale = new Set(c.held.slice(0, old));
    c.release((m) => stale.has(m)); // the answers meant for the previous incarnation
    await c.ticks(5);
    assert.ok(
      settled === undefined || (settled.ok && settled.index >= w.index),
      `a read started after the write at ${w.index} settled with ${JSON.stringify(settled)}`,
    );
    c.release();
    for (let i = 0; i < WAIT_TICKS && settled === undefined; i++) await c.ticks(1);
    await second;
    assert.ok(settled?.ok && settled.index >= w.index, JSON.stringify(settled));
  } finally {
    await c.close();
  }
});
