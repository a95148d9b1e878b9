/**
 * The HTTP contract of API v1, as steps over base URLs: queues, publish and dedup, receive and
 * fenced settles, forwarding, linearizable follower reads, topics, transactions, delivery modes
 * (here), bad inputs, the operations endpoints and auth (`contract_input.ts`). They run against
 * real nodes (`api_test.ts`, `api_input_test.ts`) and through the edge gateway in each runtime
 * (`edge_test.ts`): a URL may be a node or a gateway.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Answer, assertProblem, assertStatus, call } from "./http.ts";

/** The parts of a queue answer that every node must agree on. */
function stats(a: Answer) {
  const { ready, leased, delayed, published, acked, deadLettered } = a.body;
  return { ready, leased, delayed, published, acked, deadLettered };
}

/** Steps of the contract (see the module doc). */
export async function queueWalk(
  t: Deno.TestContext,
  base: string,
  follower?: string,
): Promise<void> {
  const via = follower ?? base;
  await t.step("queue create 201, update 200, get, list, delete 204", async () => {
    const created = await call(via, "PUT", "/v1/queues/walk", {
      body: { deliveryMode: "at_least_once", leaseMs: 5_000 },
    });
    assertStatus(created, 201);
    assert.equal(created.body.deliveryMode, "at_least_once");
    assert.equal(created.body.leaseMs, 5_000);
    const updated = await call(via, "PUT", "/v1/queues/walk", { body: { leaseMs: 7_000 } });
    assertStatus(updated, 200);
    assert.equal(updated.body.leaseMs, 7_000);
    const got = await call(base, "GET", "/v1/queues/walk");
    assertStatus(got, 200);
    assert.equal(got.body.name, "walk");
    assert.equal(got.body.leaseMs, 7_000);
    assert.equal(got.body.ready, 0);
    const listed = await call(base, "GET", "/v1/queues");
    assertStatus(listed, 200);
    const names = (Array.isArray(listed.body) ? listed.body : listed.body.queues).map(
      (q: { name: string }) => q.name,
    );
    assert.ok(names.includes("walk"), listed.text);
    assertStatus(await call(via, "DELETE", "/v1/queues/walk"), 204);
    assertProblem(await call(base, "GET", "/v1/queues/walk"), 404, "queue_not_found");
    assertProblem(await call(via, "DELETE", "/v1/queues/walk"), 404, "queue_not_found");
  });

  await t.step("publish single and batch, dedup by id answers the original seq", async () => {
    assertStatus(await call(via, "PUT", "/v1/queues/pub", { body: {} }), 201);
    const first = await call(via, "POST", "/v1/queues/pub/messages", {
      body: { id: "a", body: { n: 1 }, headers: { k: "v" } },
    });
    assertStatus(first, 201);
    assert.deepEqual(first.body, { seq: first.body.seq, id: "a", duplicate: false });
    const again = await call(base, "POST", "/v1/queues/pub/messages", {
      body: { id: "a", body: { n: 1 } },
    });
    assertStatus(again, 200);
    assert.deepEqual(again.body, { seq: first.body.seq, id: "a", duplicate: true });
    const batch = await call(via, "POST", "/v1/queues/pub/messages", {
      body: { messages: [{ id: "b", body: 2 }, { id: "a", body: 1 }, { body: "no id" }] },
    });
    assertStatus(batch, 201);
    const [b, a, anon] = batch.body.results;
    assert.equal(b.duplicate, false);
    assert.deepEqual(a, { seq: first.body.seq, id: "a", duplicate: true });
    assert.equal(anon.duplicate, false);
    assert.ok(b.seq > first.body.seq && anon.seq > b.seq, batch.text);
    const q = await call(base, "GET", "/v1/queues/pub");
    assert.equal(q.body.ready, 3, q.text);
    assert.equal(q.body.published, 3, q.text);
  });

  await t.step("receive in seq order; ack, nack, extend with fenced receipts", async () => {
    const got = await call(via, "POST", "/v1/queues/pub/receive", { body: { max: 10 } });
    assertStatus(got, 200);
    const msgs = got.body.messages;
    assert.equal(msgs.length, 3, got.text);
    assert.deepEqual(msgs.map((m: { attempt: number }) => m.attempt), [1, 1, 1]);
    assert.ok(msgs[0].seq < msgs[1].seq && msgs[1].seq < msgs[2].seq);
    assert.deepEqual(msgs[0].body, { n: 1 });
    assert.deepEqual(msgs[0].headers, { k: "v" });
    const [m0, m1, m2] = msgs;
    const st = await call(base, "GET", "/v1/queues/pub/messages/a");
    assertStatus(st, 200);
    assert.equal(st.body.state, "leased");
    assert.equal(st.body.attempt, 1);

    const ext = await call(via, "POST", "/v1/queues/pub/extend", {
      body: { receipts: [m0.receipt], leaseMs: 60_000 },
    });
    assertStatus(ext, 200);
    assert.equal(ext.body.results[0].status, "extended", ext.text);
    assert.ok(ext.body.results[0].leaseExpiresAt > m0.leaseExpiresAt, ext.text);

    // m1 goes back; its next delivery is attempt 2 and the old receipt is stale from then on.
    const nack = await call(via, "POST", "/v1/queues/pub/nack", {
      body: { receipts: [m1.receipt] },
    });
    assertStatus(nack, 200);
    assert.equal(nack.body.results[0].status, "nacked", nack.text);
    const again = await call(base, "POST", "/v1/queues/pub/receive", { body: { max: 10 } });
    assert.equal(again.body.messages.length, 1, again.text);
    const m1b = again.body.messages[0];
    assert.equal(m1b.id, m1.id);
    assert.equal(m1b.attempt, 2);
    assert.notEqual(m1b.receipt, m1.receipt);

    const acks = await call(via, "POST", "/v1/queues/pub/ack", {
      body: { receipts: [m1.receipt, m0.receipt, m1b.receipt, "999.1.1"] },
    });
    assertStatus(acks, 200);
    assert.deepEqual(
      acks.body.results.map((r: { status: string }) => r.status),
      ["stale", "acked", "acked", "not_found"],
      acks.text,
    );
    const replay = await call(base, "POST", "/v1/queues/pub/ack", {
      body: { receipts: [m0.receipt, m2.receipt] },
    });
    assert.deepEqual(
      replay.body.results.map((r: { status: string }) => r.status),
      ["already_acked", "acked"],
    );
    const acked = await call(via, "GET", "/v1/queues/pub/messages/a");
    assert.equal(acked.body.state, "acked", acked.text);
    const q = await call(base, "GET", "/v1/queues/pub");
    assert.deepEqual({ ready: q.body.ready, leased: q.body.leased, acked: q.body.acked }, {
      ready: 0,
      leased: 0,
      acked: 3,
    });
    assertProblem(
      await call(base, "GET", "/v1/queues/pub/messages/nope"),
      404,
      "message_not_found",
    );
  });

  await t.step("a lease that ends makes its receipt stale", async () => {
    await call(via, "POST", "/v1/queues/pub/messages", { body: { id: "lease", body: 0 } });
    const first = await call(via, "POST", "/v1/queues/pub/receive", {
      body: { max: 1, leaseMs: 300 },
    });
    assert.equal(first.body.messages.length, 1, first.text);
    // The leader checks due leases every 250 ms; a long poll sees the message come back.
    const second = await call(base, "POST", "/v1/queues/pub/receive", {
      body: { max: 1, waitMs: 5_000 },
    });
    assert.equal(second.body.messages.length, 1, second.text);
    assert.equal(second.body.messages[0].attempt, 2);
    const late = await call(via, "POST", "/v1/queues/pub/ack", {
      body: { receipts: [first.body.messages[0].receipt] },
    });
    assert.equal(late.body.results[0].status, "stale", late.text);
    const now = await call(via, "POST", "/v1/queues/pub/ack", {
      body: { receipts: [second.body.messages[0].receipt] },
    });
    assert.equal(now.body.results[0].status, "acked", now.text);
  });
}

/** Steps of the contract (see the module doc). */
export async function forwardingSteps(t: Deno.TestContext, leader: string, followers: string[]) {
  await t.step("a write through a follower answers what the leader answers", async () => {
    assertStatus(await call(followers[0], "PUT", "/v1/queues/fw", { body: {} }), 201);
    const viaFollower = await call(followers[0], "POST", "/v1/queues/fw/messages", {
      body: { id: "x", body: "x" },
    });
    assertStatus(viaFollower, 201);
    const viaLeader = await call(leader, "POST", "/v1/queues/fw/messages", {
      body: { id: "x", body: "x" },
    });
    const viaOther = await call(followers[1], "POST", "/v1/queues/fw/messages", {
      body: { id: "x", body: "x" },
    });
    assertStatus(viaLeader, 200);
    assert.deepEqual(viaOther.body, viaLeader.body);
    assert.deepEqual(viaLeader.body, { ...viaFollower.body, duplicate: true });
    const problemF = await call(followers[0], "POST", "/v1/queues/missing/messages", {
      body: { body: 1 },
    });
    const problemL = await call(leader, "POST", "/v1/queues/missing/messages", {
      body: { body: 1 },
    });
    assertProblem(problemF, 404, "queue_not_found");
    assert.deepEqual(problemF.body, problemL.body);
    const views = await Promise.all(
      [leader, ...followers].map((u) => call(u, "GET", "/v1/queues/fw")),
    );
    for (const v of views) assert.deepEqual(v.body, views[0].body);
  });

  await t.step("a follower read right after a write through another node sees it", async () => {
    const all = [leader, ...followers];
    for (let i = 0; i < 30; i++) {
      const writer = all[i % 3];
      const reader = all[(i + 1 + (i % 2)) % 3];
      const put = await call(writer, "POST", "/v1/queues/fw/messages", { body: { body: i } });
      assert.ok(put.status === 201, put.text);
      const read = await call(reader, "GET", `/v1/queues/fw/messages/${put.body.id}`);
      assertStatus(read, 200);
      assert.equal(read.body.seq, put.body.seq);
      const q = await call(reader, "GET", "/v1/queues/fw");
      assert.equal(q.body.published, i + 2, `round ${i}: ${q.text}`);
    }
    const views = await Promise.all(all.map((u) => call(u, "GET", "/v1/queues/fw")));
    for (const v of views) assert.deepEqual(stats(v), stats(views[0]));
  });
}

/** Steps of the contract (see the module doc). */
export async function topicSteps(t: Deno.TestContext, leader: string, followers: string[]) {
  await t.step("a topic with two subscriptions: each gets every message", async () => {
    const [f1, f2] = followers;
    assert.ok([200, 201].includes((await call(f1, "PUT", "/v1/topics/ev", { body: {} })).status));
    for (const s of ["audit", "billing"]) {
      const sub = await call(f2, "PUT", `/v1/topics/ev/subscriptions/${s}`, {
        body: { startAt: "earliest", deliveryMode: "at_least_once" },
      });
      assert.ok([200, 201].includes(sub.status), sub.text);
    }
    const one = await call(f1, "POST", "/v1/topics/ev/messages", { body: { id: "e0", body: 0 } });
    assert.equal(one.status, 201, one.text);
    const batch = await call(leader, "POST", "/v1/topics/ev/messages", {
      body: { messages: [1, 2, 3, 4].map((n) => ({ id: `e${n}`, body: n })) },
    });
    assert.equal(batch.status, 201, batch.text);
    const dup = await call(f2, "POST", "/v1/topics/ev/messages", { body: { id: "e0", body: 0 } });
    assert.equal(dup.body.duplicate, true, dup.text);
    for (const s of ["audit", "billing"]) {
      const got = await call(
        followers[s === "audit" ? 0 : 1],
        "POST",
        `/v1/topics/ev/subscriptions/${s}/receive`,
        { body: { max: 100 } },
      );
      assertStatus(got, 200);
      assert.deepEqual(got.body.messages.map((m: { body: number }) => m.body), [0, 1, 2, 3, 4]);
      const ack = await call(leader, "POST", `/v1/topics/ev/subscriptions/${s}/ack`, {
        body: { receipts: got.body.messages.map((m: { receipt: string }) => m.receipt) },
      });
      assert.ok(ack.body.results.every((r: { status: string }) => r.status === "acked"), ack.text);
      const empty = await call(leader, "POST", `/v1/topics/ev/subscriptions/${s}/receive`, {
        body: { max: 100 },
      });
      assert.equal(empty.body.messages.length, 0, empty.text);
    }
  });

  await t.step("the topic log reads from a seq with a limit", async () => {
    const all = await call(followers[1], "GET", "/v1/topics/ev/messages?fromSeq=1&limit=100");
    assertStatus(all, 200);
    assert.deepEqual(all.body.messages.map((m: { id: string }) => m.id), [
      "e0",
      "e1",
      "e2",
      "e3",
      "e4",
    ]);
    const seq2 = all.body.messages[2].seq;
    const page = await call(leader, "GET", `/v1/topics/ev/messages?fromSeq=${seq2}&limit=2`);
    assert.deepEqual(page.body.messages.map((m: { id: string }) => m.id), ["e2", "e3"]);
    assert.equal(page.body.nextSeq, all.body.messages[4].seq, page.text);
    assertProblem(await call(leader, "GET", "/v1/topics/none/messages"), 404, "topic_not_found");
  });
}

/** Steps of the contract (see the module doc). */
export async function transactionSteps(t: Deno.TestContext, leader: string, followers: string[]) {
  await t.step("a transaction acks and publishes all together, or nothing (409)", async () => {
    const f = followers[0];
    for (const q of ["tx-in", "tx-out"]) {
      assertStatus(await call(leader, "PUT", `/v1/queues/${q}`, { body: {} }), 201);
    }
    await call(f, "POST", "/v1/queues/tx-in/messages", {
      body: { messages: [{ id: "i1", body: 1 }, { id: "i2", body: 2 }] },
    });
    const got = await call(f, "POST", "/v1/queues/tx-in/receive", { body: { max: 2 } });
    const [r1, r2] = got.body.messages.map((m: { receipt: string }) => m.receipt);
    const ok = await call(f, "POST", "/v1/transactions", {
      body: {
        ack: [{ queue: "tx-in", receipt: r1 }],
        publish: [{ queue: "tx-out", id: "o1", body: "out" }, {
          topic: "ev",
          id: "t-o1",
          body: "out",
        }],
      },
    });
    assertStatus(ok, 200);
    assert.equal(ok.body.ack[0].status, "acked", ok.text);
    assert.equal(ok.body.publish.length, 2, ok.text);
    // r1 is spent and the target queue is missing: both reasons come back, nothing is applied.
    const bad = await call(followers[1], "POST", "/v1/transactions", {
      body: {
        ack: [{ queue: "tx-in", receipt: r1 }, { queue: "tx-in", receipt: r2 }],
        publish: [{ queue: "tx-out", id: "o2", body: "x" }, { queue: "nope", body: "x" }],
      },
    });
    const problem = assertProblem(bad, 409, "transaction_failed");
    assert.ok(Array.isArray(problem.errors) && problem.errors.length >= 2, bad.text);
    const out = await call(leader, "GET", "/v1/queues/tx-out");
    assert.equal(out.body.published, 1, out.text);
    const inQ = await call(leader, "GET", "/v1/queues/tx-in");
    assert.deepEqual({ leased: inQ.body.leased, acked: inQ.body.acked }, { leased: 1, acked: 1 });
    const ack2 = await call(f, "POST", "/v1/queues/tx-in/ack", { body: { receipts: [r2] } });
    assert.equal(ack2.body.results[0].status, "acked", ack2.text);
  });
}

/** Steps of the contract (see the module doc). */
export async function deliveryModeSteps(t: Deno.TestContext, leader: string, followers: string[]) {
  const [f1, f2] = followers;
  const put = async (q: string, body: unknown) =>
    assertStatus(await call(f1, "PUT", `/v1/queues/${q}`, { body }), 201);
  const receive = async (via: string, q: string) =>
    (await call(via, "POST", `/v1/queues/${q}/receive`, { body: { max: 10 } })).body.messages;

  await t.step("exactly_once refuses a publish without an id", async () => {
    await put("modes-eo", { deliveryMode: "exactly_once" });
    const bad = await call(f2, "POST", "/v1/queues/modes-eo/messages", { body: { body: 1 } });
    assertProblem(bad, 400, "invalid_request");
  });

  await t.step(
    "maxDeliveries moves a message to its dead-letter queue with the reason",
    async () => {
      await put("modes-dlq", {});
      await put("modes-src", { maxDeliveries: 2, deadLetterQueue: "modes-dlq" });
      await call(f2, "POST", "/v1/queues/modes-src/messages", { body: { id: "d1", body: 1 } });
      for (let attempt = 1; attempt <= 2; attempt++) {
        const [m] = await receive(attempt === 1 ? f1 : leader, "modes-src");
        assert.equal(m.attempt, attempt);
        await call(f2, "POST", "/v1/queues/modes-src/nack", { body: { receipts: [m.receipt] } });
      }
      assert.deepEqual(await receive(f1, "modes-src"), []);
      const [dead] = await receive(f2, "modes-dlq");
      assert.equal(dead.id, "d1");
      assert.equal(dead.headers["x-quorumq-dead-reason"], "max_deliveries", JSON.stringify(dead));
      const st = await call(leader, "GET", "/v1/queues/modes-src/messages/d1");
      assert.equal(st.body.state, "dead", st.text);
    },
  );

  await t.step("at_most_once removes at delivery; fifo gives one message per group", async () => {
    await put("modes-amo", { deliveryMode: "at_most_once" });
    await call(f2, "POST", "/v1/queues/modes-amo/messages", { body: { id: "a1", body: 1 } });
    const [m] = await receive(f1, "modes-amo");
    const q = await call(leader, "GET", "/v1/queues/modes-amo");
    assert.deepEqual({ ready: q.body.ready, leased: q.body.leased }, { ready: 0, leased: 0 });
    const nack = await call(f1, "POST", "/v1/queues/modes-amo/nack", {
      body: { receipts: [m.receipt] },
    });
    assert.notEqual(nack.body.results[0].status, "nacked", nack.text);
    assert.deepEqual(await receive(f2, "modes-amo"), []);

    await put("modes-fifo", { fifo: true });
    await call(f2, "POST", "/v1/queues/modes-fifo/messages", {
      body: { messages: ["a1", "a2", "b1", "b2"].map((b) => ({ body: b, group: b[0] })) },
    });
    const first = await receive(f1, "modes-fifo");
    assert.deepEqual(first.map((x: { body: string }) => x.body), ["a1", "b1"]);
    await call(leader, "POST", "/v1/queues/modes-fifo/ack", {
      body: { receipts: [first[0].receipt] },
    });
    const second = await receive(f2, "modes-fifo");
    assert.deepEqual(second.map((x: { body: string }) => x.body), ["a2"]);
  });
}
