/**
 * Leader changes and process faults against three real node processes with fsync:
 * Idempotency-Key replay across a leader change, SIGTERM of the leader (graceful: leadership
 * moves, exit 0, no acknowledged write lost) and SIGKILL of the leader mid-traffic while
 * producers retry through the client (nothing acknowledged lost, nothing duplicated).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Client } from "../../src/client/mod.ts";
import { Nodes, sleep } from "./nodes.ts";
import { assertProblem, assertStatus, call, eventually } from "./http.ts";
import { classify, drain, produce, type Produced } from "./_traffic.ts";
import { moveLeadership } from "./leadership.ts";

Deno.test("e2e api faults: three nodes with fsync", async (t) => {
  const nodes = await Nodes.start({ count: 3 });
  const client = new Client({
    nodes: nodes.urls(),
    timeoutMs: 3_000,
    retry: { attempts: 30, totalMs: 30_000, baseDelayMs: 50, maxDelayMs: 500 },
  });
  try {
    // In order: later steps read the queues earlier ones wrote.
    await t.step(
      "Idempotency-Key: replayed across a leader change, conflict on another body",
      () => idempotencyAcrossLeaderChange(nodes),
    );
    await t.step(
      "SIGTERM of the leader under traffic: it hands over, exits 0, loses nothing",
      () => leaderSigterm(nodes, client),
    );
    await t.step(
      "SIGKILL of the leader mid-traffic: nothing acknowledged lost or duplicated",
      () => leaderSigkill(nodes, client),
    );
    await t.step(
      "a paused leader, resumed, never serves a stale read (docs/reliability.md item 4)",
      () => pausedLeaderReads(nodes),
    );
    await t.step(
      "a lone survivor answers 503 no_leader with Retry-After until a majority is back",
      () => loneSurvivor(nodes),
    );
    await t.step(
      "SIGKILL of every node, restart: the state comes back from disk",
      () => everyNodeKilled(nodes),
    );
  } finally {
    await nodes.stop();
  }
});

/** Idempotency-Key: replayed on every node after a leader change; another body conflicts. */
async function idempotencyAcrossLeaderChange(nodes: Nodes): Promise<void> {
  const leader = await nodes.waitLeader();
  const follower = nodes.ids.find((id) => id !== leader)!;
  assertStatus(await call(nodes.url(leader), "PUT", "/v1/queues/idem", { body: {} }), 201);
  const key = { "idempotency-key": "publish-once-1" };
  const first = await call(nodes.url(follower), "POST", "/v1/queues/idem/messages", {
    body: { body: "one" },
    headers: key,
  });
  assertStatus(first, 201);
  assert.equal(first.headers.get("idempotent-replayed"), null);
  // The answer waits for the outcome: a 202 only says a transfer started (docs/http.md).
  await moveLeadership(nodes.url(leader), leader);
  const next = await eventually("every node to follow a new leader", async () => {
    const id = await nodes.waitLeader(5_000);
    return id !== leader ? id : undefined;
  });
  for (const id of nodes.ids) {
    const again = await call(nodes.url(id), "POST", "/v1/queues/idem/messages", {
      body: { body: "one" },
      headers: key,
    });
    assertStatus(again, 201);
    assert.deepEqual(again.body, first.body);
    assert.equal(again.headers.get("idempotent-replayed"), "true", `on ${id}`);
  }
  const conflict = await call(nodes.url(leader), "POST", "/v1/queues/idem/messages", {
    body: { body: "two" },
    headers: key,
  });
  assertProblem(conflict, 409, "idempotency_conflict");
  const q = await call(nodes.url(next), "GET", "/v1/queues/idem");
  assert.equal(q.body.published, 1, q.text);
}

/**
 * Publishes to a new queue `queue` from `producers` retrying producers, does `fault` to the leader
 * after a second, and once another node leads lets traffic run `afterMs` more; then restarts the
 * old leader and drains the queue. Asserts enough was published and nothing acknowledged was lost,
 * duplicated or unexpected.
 */
async function underTraffic(
  nodes: Nodes,
  client: Client,
  o: {
    queue: string;
    producers: number;
    afterMs: number;
    fault: (leader: string) => Promise<void>;
  },
): Promise<{ produced: Produced; deliveries: Map<string, number> }> {
  await client.createQueue(o.queue, { deliveryMode: "at_least_once" });
  const leader = await nodes.waitLeader();
  const stop = new AbortController();
  const traffic = produce(client, o.queue, {
    producers: o.producers,
    maxEach: 10_000,
    prefix: o.queue,
    stop: stop.signal,
  });
  await sleep(1_000);
  await o.fault(leader);
  const next = await nodes.waitLeader(10_000);
  assert.notEqual(next, leader);
  await sleep(o.afterMs);
  stop.abort();
  const produced = await traffic;
  nodes.spawn(leader);
  await nodes.waitLeader();
  const deliveries = await drain(client, o.queue);
  const verdict = classify(produced, deliveries);
  assert.ok(produced.acknowledged.size > 50, `only ${produced.acknowledged.size} published`);
  assert.deepEqual(
    { lost: verdict.lost, duplicated: verdict.duplicated, unexpected: verdict.unexpected },
    { lost: [], duplicated: [], unexpected: [] },
  );
  return { produced, deliveries };
}

/** SIGTERM of the leader under traffic: it hands over, exits 0, loses nothing. */
async function leaderSigterm(nodes: Nodes, client: Client): Promise<void> {
  const { produced } = await underTraffic(nodes, client, {
    queue: "term",
    producers: 8,
    afterMs: 1_000,
    fault: async (leader) => {
      const exit = await nodes.signal(leader, "SIGTERM");
      assert.ok(exit, "the leader was running");
      assert.equal(exit.timedOut, false, "the leader did not stop within 15 s of SIGTERM");
      assert.equal(exit.status.code, 0, nodes.logs(leader).slice(-2000));
    },
  });
  // The graceful handover leaves no outcome unknown to a retrying producer.
  assert.equal(produced.unknown.size, 0, [...produced.unknown].join(","));
}

/** SIGKILL of the leader mid-traffic: nothing acknowledged lost or duplicated. */
async function leaderSigkill(nodes: Nodes, client: Client): Promise<void> {
  const { deliveries } = await underTraffic(nodes, client, {
    queue: "kill",
    producers: 16,
    afterMs: 1_500,
    fault: (leader) => nodes.kill(leader),
  });
  // After the restart every node holds the same queue.
  const views = await Promise.all(
    nodes.ids.map((id) => call(nodes.url(id), "GET", "/v1/queues/kill")),
  );
  for (const v of views) assert.equal(v.body.acked, deliveries.size, v.text);
}

/** A paused leader, resumed, never serves a stale read (docs/reliability.md item 4). */
async function pausedLeaderReads(nodes: Nodes): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const old = await nodes.waitLeader();
    const queue = `paused-${round}`;
    assertStatus(await call(nodes.url(old), "PUT", `/v1/queues/${queue}`, { body: {} }), 201);
    await nodes.signal(old, "SIGSTOP");
    let write;
    try {
      const other = nodes.ids.find((id) => id !== old)!;
      const next = await eventually("a leader besides the paused one", async () => {
        const v = await nodes.cluster(other);
        return v.leaderId && v.leaderId !== old ? v.leaderId as string : undefined;
      });
      write = await call(nodes.url(next), "POST", `/v1/queues/${queue}/messages`, {
        body: { id: "w", body: 1 },
      });
      assertStatus(write, 201);
    } finally {
      await nodes.signal(old, "SIGCONT");
    }
    // At once, before the old leader has heard of the new term: each read must see the
    // write, never the state from before the pause, and must not wait out its timeout (the
    // driver re-asks the new leader for reads the deposed one dropped).
    const [q, st] = await Promise.all([
      call(nodes.url(old), "GET", `/v1/queues/${queue}`),
      call(nodes.url(old), "GET", `/v1/queues/${queue}/messages/w`),
    ]);
    assertStatus(q, 200);
    assert.equal(q.body.published, 1, `round ${round}: ${q.text}`);
    assertStatus(st, 200);
    assert.equal(st.body.seq, write.body.seq, `round ${round}: ${st.text}`);
  }
}

/** A lone survivor answers 503 no_leader with Retry-After until a majority is back. */
async function loneSurvivor(nodes: Nodes): Promise<void> {
  const leader = await nodes.waitLeader();
  const [other, survivor] = nodes.ids.filter((id) => id !== leader);
  await Promise.all([nodes.kill(leader), nodes.kill(other)]);
  const url = nodes.url(survivor);
  try {
    // Until the election timeout tells it the leader is gone, the survivor still believes
    // in it: a write is forwarded to the dead leader (refused, nothing sent: no_leader).
    const refused = await eventually("a refused write", async () => {
      const a = await call(url, "POST", "/v1/queues/idem/messages", { body: { body: "x" } });
      return a.status === 503 ? a : undefined;
    });
    assertProblem(refused, 503, "no_leader");
    assert.match(refused.headers.get("retry-after") ?? "", /^\d+$/);
    assertStatus(await call(url, "GET", "/healthz"), 200);
    const unready = await eventually("/readyz to say unavailable", async () => {
      const a = await call(url, "GET", "/readyz");
      return a.status === 503 ? a : undefined;
    });
    assertProblem(unready, 503, "unavailable");
    const read = await call(url, "GET", "/v1/queues/idem", { timeoutMs: 15_000 });
    assert.equal(read.status, 503, read.text);
    const stale = await call(url, "GET", "/v1/queues/idem?consistency=stale");
    assertStatus(stale, 200);
    assert.equal(stale.body.published, 1, stale.text);
  } finally {
    nodes.spawn(leader);
    nodes.spawn(other);
  }
  await nodes.waitLeader();
  assertStatus(await call(url, "GET", "/readyz"), 200);
  const q = await call(url, "GET", "/v1/queues/idem");
  assert.equal(q.body.published, 1, "a refused write was applied after all");
}

/** SIGKILL of every node, restart: the state comes back from disk. */
async function everyNodeKilled(nodes: Nodes): Promise<void> {
  const leader = await nodes.waitLeader();
  const before = await Promise.all(
    ["idem", "term", "kill"].map((q) => call(nodes.url(leader), "GET", `/v1/queues/${q}`)),
  );
  await Promise.all(nodes.ids.map((id) => nodes.kill(id)));
  for (const id of nodes.ids) nodes.spawn(id);
  await nodes.waitLeader();
  for (const id of nodes.ids) {
    const after = await Promise.all(
      ["idem", "term", "kill"].map((q) => call(nodes.url(id), "GET", `/v1/queues/${q}`)),
    );
    assert.deepEqual(after.map((a) => a.body), before.map((b) => b.body), `on ${id}`);
  }
  // The stored idempotent answer survived too.
  const replay = await call(nodes.url(leader), "POST", "/v1/queues/idem/messages", {
    body: { body: "one" },
    headers: { "idempotency-key": "publish-once-1" },
  });
  assert.equal(replay.headers.get("idempotent-replayed"), "true", replay.text);
}
