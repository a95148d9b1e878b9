/**
 * The client's stream follows the leader (3 real nodes): given a follower first, its requests
 * move to a stream to the leader (no forwarding hop), and a consumer started on the follower's
 * stream keeps receiving what is published after the move; `followLeader: false` stays put.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Client } from "../../src/client/mod.ts";
import { Nodes, sleep } from "./nodes.ts";

/** The id of the node whose stream the client's requests for `url` ride (its hello). */
async function streamNode(client: Client, url: string): Promise<string> {
  const pool = client.transport.streams;
  assert.ok(pool !== undefined, "the client uses the stream");
  return String((await pool.connection(url)).hello.node);
}

/** Polls `streamNode` (with publishes, as a client in use would) until it is `want`. */
async function waitOnNode(client: Client, url: string, want: string): Promise<string> {
  let seen = "";
  for (let i = 0; i < 100; i++) {
    await client.publish("q", { body: { warm: i } });
    seen = await streamNode(client, url);
    if (seen === want) break;
    await sleep(50);
  }
  return seen;
}

Deno.test({
  name: "e2e stream: the client given a follower moves its stream to the leader",
  // The node harness's stop leaves its kill timers behind (as in the other e2e tests).
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const nodes = await Nodes.start({ count: 3 });
    const leader = await nodes.waitLeader();
    const follower = nodes.ids.find((id) => id !== leader)!;
    const url = nodes.url(follower);
    const others = nodes.ids.filter((id) => id !== follower).map((id) => nodes.url(id));
    const client = new Client({ nodes: [url, ...others], transport: "stream" });
    const stay = new Client({ nodes: [url], transport: "stream", followLeader: false });
    try {
      await client.createQueue("q");
      // A consumer opened at once rides the follower's stream (the move is not done yet).
      const got: number[] = [];
      const stop = new AbortController();
      const consuming = client.consume("q", (m) => {
        const body = m.body as { n?: number };
        if (body.n !== undefined) got.push(body.n);
        if (got.length === 20) stop.abort();
      }, { signal: stop.signal });
      assert.equal(await waitOnNode(client, url, leader), leader);
      for (let n = 0; n < 20; n++) await client.publish("q", { body: { n } });
      await consuming;
      assert.deepEqual(got.toSorted((a, b) => a - b), [...Array(20).keys()]);
      // Off: the stream stays on the node it was given.
      await stay.publish("q", { body: "stay" });
      assert.equal(await streamNode(stay, url), follower);
    } finally {
      await client.close();
      await stay.close();
      await nodes.stop();
    }
  },
});

/**
 * Three nodes and a client given a follower whose stream moved to the leader and then closed
 * when idle (`streamIdleMs` 200).
 */
async function movedThenIdle() {
  const nodes = await Nodes.start({ count: 3 });
  const leader = await nodes.waitLeader();
  const follower = nodes.ids.find((id) => id !== leader)!;
  const url = nodes.url(follower);
  const client = new Client({ nodes: [url], transport: "stream", streamIdleMs: 200 });
  try {
    await client.createQueue("q");
    assert.equal(await waitOnNode(client, url, leader), leader);
    const moved = await client.transport.streams!.connection(url);
    // Nothing in flight for longer than streamIdleMs: the stream closes.
    for (let i = 0; i < 100 && !moved.lost; i++) await sleep(50);
    assert.ok(moved.lost, "the idle stream closed");
    return { nodes, leader, url, client };
  } catch (e) {
    await client.close();
    await nodes.stop();
    throw e;
  }
}

Deno.test({
  name: "e2e stream: a stream closed when idle reopens to the leader the client moved to",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { nodes, leader, url, client } = await movedThenIdle();
    try {
      // The first call after the pause rides a stream to the leader at once, not the follower's.
      assert.equal(await streamNode(client, url), leader);
      await client.publish("q", { body: "after the pause" });
    } finally {
      await client.close();
      await nodes.stop();
    }
  },
});

Deno.test({
  name: "e2e stream: a stream closed when idle, its leader since SIGKILLed, reopens on the node",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { nodes, leader, url, client } = await movedThenIdle();
    try {
      await nodes.kill(leader);
      const next = await nodes.waitLeader();
      // The old leader refuses: the stream opens on the node the client was given, and the
      // client moves on to the new leader from there.
      await client.publish("q", { body: "after the kill" });
      assert.equal(await waitOnNode(client, url, next), next);
    } finally {
      await client.close();
      await nodes.stop();
    }
  },
});
