/**
 * An idle long poll makes no Raft entry: a receive with `waitMs` on a leader whose applied state
 * has nothing deliverable waits first and proposes only once something is (or never, when its
 * `waitMs` runs out). What it answered before stays: a message published meanwhile is delivered
 * (no lost wake-up), a missing or deleted queue or subscription answers 404 at once, and a
 * follower forwards the receive to the leader, which does the waiting.
 */
import assert from "node:assert/strict";
import { createApp } from "./mod.ts";
import { LocalNode } from "./testing/local_node.ts";
import { call, localApp } from "./testing/call.ts";
import { silentLogger } from "../log.ts";
import { encodeStreamFrame } from "./stream_frames.ts";
import { unpack } from "msgpackr";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (bounded: 5 s) until `ok()`; false if it never came. */
async function until(ok: () => boolean): Promise<boolean> {
  for (let i = 0; i < 500 && !ok(); i++) await sleep(10);
  return ok();
}

const bodies = (answer: { body: { messages: { body: unknown }[] } }) =>
  answer.body.messages.map((m) => m.body);

Deno.test("idle long polls of queues and subscriptions propose nothing", async () => {
  const { app, node } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  await call(app, "PUT", "/v1/topics/t");
  await call(app, "PUT", "/v1/topics/t/subscriptions/s");
  const before = node.proposals.length;
  const polls = [];
  for (let i = 0; i < 10; i++) {
    polls.push(call(app, "POST", "/v1/queues/q/receive", { waitMs: 100 }));
    polls.push(call(app, "POST", "/v1/topics/t/subscriptions/s/receive", { waitMs: 100, max: 5 }));
  }
  for (const got of await Promise.all(polls)) {
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, { messages: [] });
  }
  assert.equal(node.proposals.length, before, "no entry for an empty long poll");
  assert.equal(node.listenerCount, 0);
});

Deno.test("a publish racing the start of a long poll is delivered, not lost", async () => {
  const { app, node } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  await call(app, "PUT", "/v1/topics/t");
  await call(app, "PUT", "/v1/topics/t/subscriptions/s");
  // The publish lands before, while and after the receive reads its body and probes.
  for (const gapMs of [0, 0, 1, 2, 5, 20]) {
    const pending = call(app, "POST", "/v1/queues/q/receive", { waitMs: 10_000 });
    const sub = call(app, "POST", "/v1/topics/t/subscriptions/s/receive", { waitMs: 10_000 });
    if (gapMs > 0) await sleep(gapMs);
    await call(app, "POST", "/v1/queues/q/messages", { body: gapMs });
    await call(app, "POST", "/v1/topics/t/messages", { body: gapMs });
    assert.deepEqual(bodies(await pending), [gapMs]);
    assert.deepEqual(bodies(await sub), [gapMs]);
  }
  assert.equal(node.listenerCount, 0);
});

Deno.test("a lease that ends wakes a waiting long poll, which then gets the message", async () => {
  const { app, node } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  await call(app, "POST", "/v1/queues/q/messages", { body: "m" });
  const first = await call(app, "POST", "/v1/queues/q/receive", { leaseMs: 100 });
  assert.deepEqual(bodies(first), ["m"]);
  const before = node.proposals.length;
  // Nothing is ready now: it waits, and the lease's end (entry time) makes the message ready.
  const again = await call(app, "POST", "/v1/queues/q/receive", { waitMs: 10_000 });
  assert.deepEqual(bodies(again), ["m"]);
  assert.equal(again.body.messages[0].attempt, 2);
  assert.equal(node.proposals.length, before + 1, "one receive, proposed when the lease ended");
});

Deno.test("a long poll on a missing or deleted target answers 404 at once", async () => {
  const { app, node } = localApp();
  const missing = await call(app, "POST", "/v1/queues/nope/receive", { waitMs: 10_000 });
  assert.equal(missing.status, 404);
  assert.match(missing.body.type, /queue_not_found/);
  await call(app, "PUT", "/v1/topics/t");
  const noSub = await call(app, "POST", "/v1/topics/t/subscriptions/s/receive", {
    waitMs: 10_000,
  });
  assert.equal(noSub.status, 404);
  assert.match(noSub.body.type, /subscription_not_found/);
  const noTopic = await call(app, "POST", "/v1/topics/u/subscriptions/s/receive", {
    waitMs: 10_000,
  });
  assert.equal(noTopic.status, 404);
  // Deleted while it waits: woken, proposed, refused as before.
  await call(app, "PUT", "/v1/queues/q");
  await call(app, "PUT", "/v1/topics/t/subscriptions/s");
  const q = call(app, "POST", "/v1/queues/q/receive", { waitMs: 10_000 });
  const s = call(app, "POST", "/v1/topics/t/subscriptions/s/receive", { waitMs: 10_000 });
  assert.ok(await until(() => node.listenerCount > 0), "the receives wait");
  await call(app, "DELETE", "/v1/queues/q");
  await call(app, "DELETE", "/v1/topics/t/subscriptions/s");
  assert.equal((await q).status, 404);
  assert.equal((await s).status, 404);
});

Deno.test("a follower forwards a long poll at once; the leader waits without proposing", async () => {
  const leader = new LocalNode({ nodeId: "n1", url: "http://leader" });
  const leaderApp = createApp({ node: leader, log: silentLogger });
  const follower = new LocalNode({
    nodeId: "n2",
    mode: { kind: "follower", leaderId: "n1", leaderUrl: "http://leader" },
  });
  const followerApp = createApp({
    node: follower,
    log: silentLogger,
    leaderFetch: async (r) => {
      const res = await leaderApp.request(r.path, {
        method: r.method,
        headers: r.headers,
        ...(r.body !== undefined ? { body: r.body } : {}),
        signal: r.signal,
      });
      return {
        status: res.status,
        headers: [...res.headers],
        body: new Uint8Array(await res.arrayBuffer()),
      };
    },
  });
  await call(leaderApp, "PUT", "/v1/queues/q");
  const before = leader.proposals.length;
  const idle = await call(followerApp, "POST", "/v1/queues/q/receive", { waitMs: 100 });
  assert.deepEqual(idle.body, { messages: [] });
  assert.equal(leader.proposals.length, before, "the leader proposed nothing for it");
  assert.equal(follower.listenerCount, 0, "the follower never waited on its own state");
  const pending = call(followerApp, "POST", "/v1/queues/q/receive", { waitMs: 10_000 });
  assert.ok(await until(() => leader.listenerCount > 0), "the leader waits for it");
  await call(leaderApp, "POST", "/v1/queues/q/messages", { body: "x" });
  assert.deepEqual(bodies(await pending), ["x"]);
});

Deno.test({
  name: "an idle stream consumer proposes nothing, and a publish reaches it",
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const node = new LocalNode();
    const app = createApp({ node, log: silentLogger });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
    await call(app, "PUT", "/v1/queues/jobs");
    const socket = new WebSocket(`ws://127.0.0.1:${server.addr.port}/v1/stream`);
    socket.binaryType = "arraybuffer";
    const frames: Record<string, unknown>[] = [];
    socket.onmessage = (e) => {
      // A node's message: the version byte, then a frame or a batch of frames in msgpack.
      const v = unpack(new Uint8Array(e.data as ArrayBuffer).subarray(1));
      for (const f of Array.isArray(v) ? v : [v]) frames.push(f as Record<string, unknown>);
    };
    const closed = new Promise<void>((resolve) => socket.onclose = () => resolve());
    await new Promise<void>((resolve) => socket.onopen = () => resolve());
    socket.send(encodeStreamFrame({ t: "hello" }));
    assert.ok(await until(() => frames.length > 0), "hello answered");
    const before = node.proposals.length;
    socket.send(encodeStreamFrame({ t: "consume", i: 1, p: "/v1/queues/jobs/receive", n: 10 }));
    assert.ok(await until(() => node.listenerCount > 0), "the consumer's receive waits");
    await sleep(50);
    assert.equal(node.proposals.length, before, "no entry while the queue is empty");
    await call(app, "POST", "/v1/queues/jobs/messages", { body: "job" });
    assert.ok(await until(() => frames.some((f) => f?.t === "push")), "the message is pushed");
    socket.close();
    await closed;
    await server.shutdown();
  },
});
