import assert from "node:assert/strict";
import { LongPollHub } from "./long_poll.ts";
import { call, localApp } from "./testing/call.ts";

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

Deno.test("long poll: a waiting receive is woken by a publish", async () => {
  const { app, node } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  const started = performance.now();
  const pending = call(app, "POST", "/v1/queues/q/receive", { waitMs: 5000 });
  await tick();
  assert.equal(node.listenerCount, 1, "the waiter listens to applied batches");
  const proposalsWhileWaiting = node.proposals.length;
  await tick();
  assert.equal(node.proposals.length, proposalsWhileWaiting, "no busy polling");
  await call(app, "POST", "/v1/queues/q/messages", { body: "wake" });
  const got = await pending;
  assert.equal(got.status, 200);
  assert.deepEqual(got.body.messages.map((m: { body: unknown }) => m.body), ["wake"]);
  assert.ok(performance.now() - started < 4000, "answered well before waitMs");
  assert.equal(node.listenerCount, 0, "unsubscribed after the wait");
});

Deno.test("long poll: answers an empty list when waitMs runs out", async () => {
  const { app, node } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  const started = performance.now();
  const got = await call(app, "POST", "/v1/queues/q/receive", { waitMs: 60 });
  const elapsed = performance.now() - started;
  assert.deepEqual(got.body, { messages: [] });
  assert.ok(elapsed >= 55, `waited ${elapsed} ms`);
  assert.equal(node.listenerCount, 0);
});

Deno.test("long poll: a delayed message wakes the waiter when its delay ends", async () => {
  const { app } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  const pending = call(app, "POST", "/v1/queues/q/receive", { waitMs: 3000 });
  await tick();
  const published = performance.now();
  await call(app, "POST", "/v1/queues/q/messages", { body: "later", delayMs: 80 });
  const got = await pending;
  const elapsed = performance.now() - published;
  assert.deepEqual(got.body.messages.map((m: { body: unknown }) => m.body), ["later"]);
  assert.ok(elapsed >= 70 && elapsed < 2500, `woke after ${elapsed} ms`);
});

Deno.test("long poll: a delay ends by entry time, which need not be the wall clock", async () => {
  // Entry time started a long way behind the wall clock (as after a whole-cluster outage, or
  // when the first leader's clock was behind): comparing the delay's end with the wall clock
  // would call it due at once, and the receive would be proposed again and again, empty.
  const { app, node } = localApp({ wallNowMs: () => 1_000 });
  await call(app, "PUT", "/v1/queues/q");
  await call(app, "POST", "/v1/queues/q/messages", { body: "later", delayMs: 100 });
  const before = node.proposals.length;
  const got = await call(app, "POST", "/v1/queues/q/receive", { waitMs: 3000 });
  assert.deepEqual(got.body.messages.map((m: { body: unknown }) => m.body), ["later"]);
  assert.ok(node.state.lastTs < 1_000_000, `entry time ${node.state.lastTs}`);
  const receives = node.proposals.length - before;
  assert.ok(receives <= 3, `${receives} receives proposed for one long poll`);
});

Deno.test("long poll: waiters are served in arrival order, one message each", async () => {
  const { app } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  const order: number[] = [];
  const waiters = [0, 1, 2].map(async (i) => {
    await new Promise((resolve) => setTimeout(resolve, i * 5));
    const got = await call(app, "POST", "/v1/queues/q/receive", { waitMs: 2000 });
    order.push(i);
    return got.body.messages.map((m: { body: unknown }) => m.body);
  });
  await new Promise((resolve) => setTimeout(resolve, 40));
  for (const body of ["a", "b", "c"]) {
    await call(app, "POST", "/v1/queues/q/messages", { body });
  }
  const results = await Promise.all(waiters);
  assert.deepEqual(results, [["a"], ["b"], ["c"]]);
  assert.deepEqual(order, [0, 1, 2]);
});

Deno.test("long poll with an Idempotency-Key waits first, then proposes exactly once", async () => {
  const { app, node } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  const before = node.proposals.length;
  const pending = call(app, "POST", "/v1/queues/q/receive", { waitMs: 3000 }, {
    "idempotency-key": "rcv-1",
  });
  await tick();
  assert.equal(node.proposals.length, before, "nothing proposed while waiting");
  await call(app, "POST", "/v1/queues/q/messages", { body: 1 });
  const got = await pending;
  assert.equal(got.body.messages.length, 1);
  assert.equal(node.proposals.length, before + 2, "one publish, one receive");
  // A replay is recognised by its known key: proposed at once, not after waitMs.
  const replayStarted = performance.now();
  const replay = await call(app, "POST", "/v1/queues/q/receive", { waitMs: 3000 }, {
    "idempotency-key": "rcv-1",
  });
  assert.ok(performance.now() - replayStarted < 2000);
  assert.equal(replay.headers.get("idempotent-replayed"), "true");
  assert.deepEqual(replay.body, got.body);
});

Deno.test("long poll in a session waits first, then proposes exactly once", async () => {
  const { app, node } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  const opened = await call(app, "POST", "/v1/sessions", {});
  const session = { "quorumq-session": `${opened.body.session}/1/1` };
  const before = node.proposals.length;
  const pending = call(app, "POST", "/v1/queues/q/receive", { waitMs: 3000 }, session);
  await tick();
  assert.equal(node.proposals.length, before, "nothing proposed while waiting");
  await call(app, "POST", "/v1/queues/q/messages", { body: 1 });
  const got = await pending;
  assert.equal(got.body.messages.length, 1);
  assert.equal(node.proposals.length, before + 2, "one publish, one receive");
  // A replay is recognised by its stored answer: proposed at once, never waiting.
  const replay = call(app, "POST", "/v1/queues/q/receive", { waitMs: 3000 }, session);
  await tick();
  assert.equal(node.listenerCount, 0, "the replay does not wait");
  const answer = await replay;
  assert.equal(answer.headers.get("idempotent-replayed"), "true");
  assert.deepEqual(answer.body, got.body);
});

Deno.test("LongPollHub.wait() ends on abort and on deadline, and unsubscribes", async () => {
  let listeners = 0;
  const hub = new LongPollHub(() => {
    listeners++;
    return () => listeners--;
  });
  const probe = { check: () => ({ deliverableNow: false, readyCount: 0 }) };
  const controller = new AbortController();
  const aborted = hub.wait("k", probe, hub.arrival(), Date.now() + 10_000, controller.signal);
  const timed = hub.wait("k", probe, hub.arrival(), Date.now() + 20);
  assert.equal(hub.waiting, 2);
  assert.equal(listeners, 1);
  controller.abort();
  assert.equal(await aborted, "aborted");
  assert.equal(await timed, "deadline");
  assert.equal(hub.waiting, 0);
  assert.equal(listeners, 0);
});
