/**
 * The edge gateway (docs/edge.md) in each runtime, `workerd` (the Worker module, bundled) and
 * Deno, in front of a real 3-node cluster: the HTTP contract steps that run against nodes
 * (`contract.ts`, `contract_input.ts`) pass through it unchanged, auth included (the gateway's
 * relay token, the caller's own token per request); and a leader SIGKILLed behind it gives the
 * outcomes a client sees at a node: a write in flight ends `unknown_outcome`, its retry with the
 * same Idempotency-Key applies once, and traffic through the gateway loses and duplicates
 * nothing.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Client } from "../../src/client/mod.ts";
import { CACHE_HEADER } from "../../src/edge/mod.ts";
import { startEdge } from "../../src/edge_targets/run.ts";
import { Nodes, sleep } from "./nodes.ts";
import { assertProblem, assertStatus, call, eventually } from "./http.ts";
import {
  deliveryModeSteps,
  forwardingSteps,
  queueWalk,
  topicSteps,
  transactionSteps,
} from "./contract.ts";
import { AUTH, authSteps, inputSteps } from "./contract_input.ts";
import { classify, drain, produce } from "./_traffic.ts";

/**
 * Each runtime, and the Worker also with every call sent to its Durable Object
 * (`QUORUMQ_EDGE_HOST_MS=0`; by default an isolate-hosted stream carries them: docs/edge.md).
 */
const VARIANTS = [
  { label: "workerd", runtime: "workerd", hostMs: undefined },
  { label: "workerd, Durable Object", runtime: "workerd", hostMs: 0 },
  { label: "deno", runtime: "deno", hostMs: undefined },
] as const;

for (const { label, runtime, hostMs } of VARIANTS) {
  Deno.test(`e2e edge (${label}): the HTTP contract through the gateway`, async (t) => {
    const nodes = await Nodes.start({
      count: 3,
      storage: "memory",
      extraArgs: ["--max-body-bytes", "65536"],
    });
    const edge = await startEdge({
      runtime,
      ...(hostMs !== undefined ? { hostMs } : {}),
      upstream: nodes.urls(),
      listen: "127.0.0.1:0",
      output: "null",
    }).catch(async (e) => {
      await nodes.stop();
      throw e;
    });
    try {
      const leaderId = await nodes.waitLeader();
      const follower = nodes.url(nodes.ids.find((id) => id !== leaderId)!);
      const gw = edge.url;
      await queueWalk(t, gw);
      // The gateway stands where the contract has a follower: answers must match the nodes'.
      await forwardingSteps(t, nodes.url(leaderId), [gw, follower]);
      await topicSteps(t, gw, [gw, follower]);
      await transactionSteps(t, gw, [follower, gw]);
      await deliveryModeSteps(t, gw, [gw, follower]);
      await inputSteps(t, gw, leaderId);
      await t.step(
        "the client on the gateway's /v1/stream: writes, reads, consume with credit",
        () => streamThroughGateway(gw),
      );
    } finally {
      await edge.stop();
      await nodes.stop();
    }
  });

  Deno.test(`e2e edge (${label}): auth passes the caller's token; the relay token lends nothing`, async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "quorumq-edge-auth-" });
    const file = `${dir}/auth.json`;
    await Deno.writeTextFile(file, JSON.stringify(AUTH));
    const nodes = await Nodes.start({
      count: 3,
      storage: "memory",
      extraArgs: ["--auth-file", file],
      adminToken: "tok-admin-all-0001",
    });
    const edge = await startEdge({
      runtime,
      ...(hostMs !== undefined ? { hostMs } : {}),
      upstream: nodes.urls(),
      listen: "127.0.0.1:0",
      token: "tok-edge-relay-001",
      // Long enough that nothing expires while the steps run.
      staleCacheMs: 60_000,
      corsOrigin: "https://app.example",
      output: "null",
    }).catch(async (e) => {
      await nodes.stop();
      throw e;
    });
    try {
      const leader = nodes.url(await nodes.waitLeader());
      await authSteps(t, edge.url, leader);
      await t.step("without a token of its own, the caller is refused (401)", async () => {
        assertProblem(
          await call(edge.url, "PUT", "/v1/queues/edge-x", { body: {} }),
          401,
          "unauthorized",
        );
        assertProblem(await call(edge.url, "GET", "/v1/cluster"), 401, "unauthorized");
      });
      await t.step("a cached stale read is served to its own caller only", async () => {
        const stale = "/v1/queues/jobs?consistency=stale";
        const as = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
        const first = await call(edge.url, "GET", stale, as("tok-admin-all-0001"));
        assertStatus(first, 200);
        assert.equal(first.headers.get(CACHE_HEADER), "miss");
        const again = await call(edge.url, "GET", stale, as("tok-admin-all-0001"));
        assert.match(again.headers.get(CACHE_HEADER) ?? "", /^hit; age-ms=\d+$/);
        assert.deepEqual(again.body, first.body);
        // The shop's token may not read jobs: the node says so, not the admin's cached answer.
        const shop = await call(edge.url, "GET", stale, as("tok-publish-orders"));
        assertProblem(shop, 403, "forbidden");
        assertProblem(await call(edge.url, "GET", stale), 401, "unauthorized");
        const worker = await call(edge.url, "GET", stale, as("tok-consume-jobs"));
        assertStatus(worker, 200);
        assert.equal(worker.headers.get(CACHE_HEADER), "miss");
      });
      await t.step(
        "CORS: a preflight of an allowed origin is answered at the gateway",
        async () => {
          const preflight = (origin: string) =>
            fetch(`${edge.url}/v1/queues/jobs/messages`, {
              method: "OPTIONS",
              headers: {
                origin,
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
              },
            });
          const ok = await preflight("https://app.example");
          assert.equal(ok.status, 204);
          assert.equal(ok.headers.get("access-control-allow-origin"), "https://app.example");
          assert.match(ok.headers.get("access-control-allow-headers") ?? "", /authorization/);
          await ok.body?.cancel();
          const other = await preflight("https://evil.example");
          assert.equal(other.headers.get("access-control-allow-origin"), null);
          await other.body?.cancel();
        },
      );
    } finally {
      await edge.stop();
      await nodes.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`e2e edge (${label}): a leader SIGKILLed behind the gateway`, async (t) => {
    const nodes = await Nodes.start({ count: 3 });
    const edge = await startEdge({
      runtime,
      ...(hostMs !== undefined ? { hostMs } : {}),
      upstream: nodes.urls(),
      listen: "127.0.0.1:0",
      output: "null",
    }).catch(async (e) => {
      await nodes.stop();
      throw e;
    });
    const gw = edge.url;
    const client = new Client({
      nodes: [gw],
      transport: "http",
      timeoutMs: 3_000,
      retry: { attempts: 30, totalMs: 30_000, baseDelayMs: 50, maxDelayMs: 500 },
    });
    try {
      await t.step(
        "a write sent when the stream is lost: unknown_outcome; its retry applies once",
        () => writeLostInFlight(nodes, gw),
      );
      await t.step(
        "traffic through the gateway across a SIGKILL: nothing lost or duplicated",
        () => trafficAcrossKill(nodes, client),
      );
    } finally {
      await client.close();
      await edge.stop();
      await nodes.stop();
    }
  });
}

/**
 * A write the gateway sent to a leader that then dies (stopped first, so it holds the write
 * unread): the gateway answers `unknown_outcome`, and the retry with the same Idempotency-Key
 * through it applies once.
 */
async function writeLostInFlight(nodes: Nodes, gw: string): Promise<void> {
  assertStatus(await call(gw, "PUT", "/v1/queues/edge-kill", { body: {} }), 201);
  const leader = await nodes.waitLeader();
  // The gateway follows the leader: its stream is open to it once /healthz says so.
  await eventually("the gateway on the leader", async () => {
    await call(gw, "GET", "/v1/queues/edge-kill");
    const h = await call(gw, "GET", "/healthz");
    return h.body.upstream === leader ? true : undefined;
  });
  // A stopped leader takes the write on its socket and does nothing with it.
  await nodes.signal(leader, "SIGSTOP");
  const key = { "idempotency-key": "edge-kill-once" };
  const inFlight = call(gw, "POST", "/v1/queues/edge-kill/messages", {
    body: { body: "once" },
    headers: key,
    timeoutMs: 30_000,
  });
  // Time for the gateway to put the write on the stopped leader's socket (its kernel takes it);
  // generous for a loaded machine: a write that reached the gateway only after the kill would be
  // sent elsewhere.
  await sleep(1_500);
  await nodes.kill(leader);
  assertProblem(await inFlight, 504, "unknown_outcome");
  await nodes.waitLeader(15_000);
  const retried = await eventually("the retry answered", async () => {
    const a = await call(gw, "POST", "/v1/queues/edge-kill/messages", {
      body: { body: "once" },
      headers: key,
    });
    return a.status === 201 ? a : undefined;
  });
  assert.equal(retried.body.duplicate, false);
  const q = await call(gw, "GET", "/v1/queues/edge-kill");
  assert.equal(q.body.published, 1, q.text);
  nodes.spawn(leader);
  await nodes.waitLeader();
}

/** Producers through the gateway while the leader is SIGKILLed: none lost, none twice. */
async function trafficAcrossKill(nodes: Nodes, client: Client): Promise<void> {
  await client.createQueue("edge-traffic", { deliveryMode: "at_least_once" });
  const leader = await nodes.waitLeader();
  const stop = new AbortController();
  const traffic = produce(client, "edge-traffic", {
    producers: 8,
    maxEach: 10_000,
    prefix: "edge",
    stop: stop.signal,
  });
  await sleep(1_000);
  await nodes.kill(leader);
  assert.notEqual(await nodes.waitLeader(10_000), leader);
  await sleep(1_500);
  stop.abort();
  const produced = await traffic;
  nodes.spawn(leader);
  await nodes.waitLeader();
  const verdict = classify(produced, await drain(client, "edge-traffic"));
  assert.ok(
    produced.acknowledged.size > 50,
    `only ${produced.acknowledged.size} published`,
  );
  assert.deepEqual(
    { lost: verdict.lost, duplicated: verdict.duplicated, unexpected: verdict.unexpected },
    { lost: [], duplicated: [], unexpected: [] },
  );
}

/**
 * The TypeScript client with the stream transport, pointed at the gateway: its `/v1/stream` is
 * relayed to the cluster (requests, a session, and a consumer whose credit passes through).
 */
async function streamThroughGateway(gw: string): Promise<void> {
  const client = new Client({ nodes: [gw], transport: "stream" });
  try {
    await client.createQueue("edge-stream");
    for (let i = 0; i < 20; i++) await client.publish("edge-stream", { body: i, id: `s${i}` });
    assert.equal((await client.publish("edge-stream", { body: 0, id: "s0" })).duplicate, true);
    const seen: number[] = [];
    const stats = await client.consume("edge-stream", (m) => {
      seen.push(m.body as number);
    }, { concurrency: 4, prefetch: 5, maxMessages: 20 });
    assert.equal(stats.acked, 20);
    assert.deepEqual(seen.toSorted((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
    const q = await client.getQueue("edge-stream");
    assert.equal(q.published, 20);
    assert.equal(q.acked, 20);
  } finally {
    await client.close();
  }
}
