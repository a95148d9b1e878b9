import assert from "node:assert/strict";
import { createApp } from "./app.ts";
import { OPERATIONS } from "./openapi.ts";
import { call, localApp } from "./testing/call.ts";
import { LocalNode } from "./testing/local_node.ts";
import type { AdminOutcome } from "./node_port.ts";
import { silentLogger } from "../log.ts";

Deno.test("GET /v1/cluster answers the view; stale works without a leader", async () => {
  const { app, node } = localApp({ nodeId: "n1", url: "http://127.0.0.1:8081" });
  const view = await call(app, "GET", "/v1/cluster");
  assert.equal(view.status, 200);
  assert.equal(view.body.nodeId, "n1");
  assert.equal(view.body.leaderId, "n1");
  assert.deepEqual(Object.keys(view.body).sort(), [
    "appliedIndex",
    "commitIndex",
    "leaderId",
    "members",
    "nodeId",
    "term",
  ]);
  assert.deepEqual(Object.keys(view.body.members[0]).sort(), [
    "id",
    "lastContactMs",
    "matchIndex",
    "role",
    "url",
  ]);
  node.setMode({ kind: "no_leader" });
  assert.equal((await call(app, "GET", "/v1/cluster")).body.type, "no_leader");
  const stale = await call(app, "GET", "/v1/cluster?consistency=stale");
  assert.equal(stale.status, 200);
  assert.equal(stale.body.leaderId, null);
});

Deno.test("members add/remove and leadership transfer; refusals are problems", async () => {
  const { app, node } = localApp();
  const add = await call(app, "POST", "/v1/cluster/members", {
    id: "n4",
    url: "http://127.0.0.1:8084",
  });
  assert.equal(add.status, 200);
  assert.ok(add.body.members.some((m: { id: string }) => m.id === "n4"));
  const dup = await call(app, "POST", "/v1/cluster/members", {
    id: "n4",
    url: "http://127.0.0.1:8084",
  });
  assert.equal(dup.status, 409);
  assert.equal(dup.body.type, "conflict");
  const badUrl = await call(app, "POST", "/v1/cluster/members", { id: "n5", url: "ftp://x" });
  assert.equal(badUrl.body.type, "invalid_request");
  const transfer = await call(app, "POST", "/v1/cluster/leadership-transfer", { to: "n4" });
  assert.equal(transfer.status, 202);
  const anyTransfer = await call(app, "POST", "/v1/cluster/leadership-transfer");
  assert.equal(anyTransfer.status, 202);
  const remove = await call(app, "DELETE", "/v1/cluster/members/n4");
  assert.equal(remove.status, 200);
  assert.ok(!remove.body.members.some((m: { id: string }) => m.id === "n4"));
  const missing = await call(app, "DELETE", "/v1/cluster/members/n9");
  assert.equal(missing.body.type, "member_not_found");
  node.setMode({ kind: "no_leader" });
  const noLeader = await call(app, "POST", "/v1/cluster/leadership-transfer", {});
  assert.equal(noLeader.status, 503);
});

Deno.test("/healthz is always 200; /readyz needs a leader", async () => {
  const { app, node } = localApp();
  assert.equal((await call(app, "GET", "/healthz")).status, 200);
  const ready = await call(app, "GET", "/readyz");
  assert.equal(ready.status, 200);
  assert.equal(ready.body.leaderId, "n1");
  node.setMode({ kind: "no_leader" });
  assert.equal((await call(app, "GET", "/healthz")).status, 200);
  const notReady = await call(app, "GET", "/readyz");
  assert.equal(notReady.status, 503);
  assert.equal(notReady.body.type, "unavailable");
});

Deno.test("/metrics shows sessions and Idempotency-Keys against their bounds", async () => {
  const { app } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  await call(app, "POST", "/v1/sessions", {});
  await call(app, "POST", "/v1/sessions", {});
  await call(app, "POST", "/v1/queues/q/messages", { body: 1 }, { "idempotency-key": "k1" });
  const text: string = (await call(app, "GET", "/metrics")).body;
  for (
    const line of [
      "quorumq_sessions_open 2",
      "quorumq_sessions_max 100000",
      "quorumq_idempotency_keys 1",
      "quorumq_idempotency_keys_max 1000000",
      "quorumq_exactly_once_bytes_max 268435456",
    ]
  ) assert.ok(text.split("\n").includes(line), `missing ${line}`);
  const bytes = Number(/^quorumq_exactly_once_bytes (\d+)$/m.exec(text)?.[1]);
  assert.ok(bytes > 2 * 160, `bytes ${bytes}`);
});

Deno.test("/metrics exposes Raft numbers, per-queue counters and route latency", async () => {
  const { app } = localApp();
  await call(app, "PUT", "/v1/queues/orders");
  await call(app, "POST", "/v1/queues/orders/messages", { body: 1 });
  await call(app, "POST", "/v1/queues/orders/messages", { body: 2 });
  await call(app, "GET", "/nowhere");
  const m = await call(app, "GET", "/metrics");
  assert.equal(m.status, 200);
  assert.match(m.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  const text: string = m.body;
  for (
    const line of [
      'quorumq_raft_term{node="n1"} 1',
      'quorumq_raft_commit_index{node="n1"} 3',
      'quorumq_raft_applied_index{node="n1"} 3',
      'quorumq_raft_leader_changes_total{node="n1"} 0',
      'quorumq_raft_elections_total{node="n1"} 0',
      'quorumq_storage_fsync_seconds_count{node="n1"} 3',
      'quorumq_messages_ready{queue="orders"} 2',
      'quorumq_messages_published_total{queue="orders"} 2',
      'quorumq_messages_leased{queue="orders"} 0',
      'quorumq_messages_acked_total{queue="orders"} 0',
      'quorumq_messages_dead_lettered_total{queue="orders"} 0',
      'quorumq_http_request_duration_seconds_count{method="POST",route="/v1/queues/:q/messages"} 2',
      'quorumq_http_requests_total{method="GET",route="unmatched",status="404"} 1',
    ]
  ) {
    assert.ok(text.includes(line + "\n"), `missing: ${line}`);
  }
  // Every sample line is `name{labels} value`: no raw paths, no NaN.
  for (const line of text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))) {
    assert.match(line, /^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$/, line);
  }
});

Deno.test("/openapi.json documents exactly the routes of the app, from the zod schemas", async () => {
  const node = new LocalNode();
  const app = createApp({ node, log: silentLogger });
  const doc = (await call(app, "GET", "/openapi.json")).body;
  assert.equal(doc.openapi, "3.1.0");
  const documented = new Set<string>();
  for (const [path, ops] of Object.entries(doc.paths as Record<string, object>)) {
    for (const method of Object.keys(ops)) {
      documented.add(`${method.toUpperCase()} ${path}`);
    }
  }
  const served = new Set(
    app.routes.filter((r) => r.method !== "ALL").map((r) =>
      `${r.method} ${r.path.replace(/\/$/, "").replace(/:([A-Za-z]+)/g, "{$1}") || "/"}`
    ),
  );
  assert.deepEqual([...documented].sort(), [...served].sort());
  assert.equal(OPERATIONS.length, served.size);
  const publish = doc.paths["/v1/queues/{q}/messages"].post;
  assert.equal(
    publish.requestBody.content["application/json"].schema.$ref,
    "#/components/schemas/PublishRequest",
  );
  const message = doc.components.schemas.NewMessage;
  assert.equal(message.additionalProperties, false);
  assert.deepEqual(message.required, ["body"]);
  assert.ok(publish.parameters.some((p: { name: string }) => p.name === "Idempotency-Key"));
  assert.ok(publish.responses["504"].description.includes("unknown_outcome"));
  const queueParam = doc.paths["/v1/queues/{q}"].get.parameters[0];
  assert.equal(queueParam.in, "path");
  assert.equal(queueParam.schema.pattern, "^(?!\\.\\.?$)[A-Za-z0-9._-]{1,128}$");
});

/** A LocalNode whose applied index trails its commit index by `lag` until `catchUp()`. */
class TrailingNode extends LocalNode {
  lag = 1;
  override clusterView() {
    const v = super.clusterView();
    return { ...v, appliedIndex: v.commitIndex - this.lag };
  }
  catchUp(): void {
    this.lag = 0;
    this.notifyApplied();
  }
}

Deno.test("/readyz waits briefly for an apply in flight; a node still behind after it is 503", async () => {
  // Under a steady write load a follower's apply trails its commit by an entry or two for a
  // moment at any time: a probe that answered 503 then took healthy nodes out of rotation.
  const node = new TrailingNode();
  const app = createApp({ node, log: silentLogger });
  const pending = call(app, "GET", "/readyz");
  setTimeout(() => node.catchUp(), 20);
  const ready = await pending;
  assert.equal(ready.status, 200, JSON.stringify(ready.body));
  // A node that does not catch up within the wait (a restore, a long backlog) is not ready.
  const behind = new TrailingNode();
  behind.lag = 5_000;
  const notReady = await call(createApp({ node: behind, log: silentLogger }), "GET", "/readyz");
  assert.equal(notReady.status, 503);
  assert.match(notReady.body.detail, /behind commit index/);
  assert.equal(behind.listenerCount, 0, "the wait unsubscribes");
});

/** A LocalNode whose leadership transfers end as `outcome`; it records each call's `wait`. */
class TransferNode extends LocalNode {
  readonly waits: boolean[] = [];
  outcome: AdminOutcome = { ok: true };
  override transferLeadership(_to?: string, wait = false): Promise<AdminOutcome> {
    this.waits.push(wait);
    return Promise.resolve(this.outcome);
  }
}

Deno.test("POST /v1/cluster/leadership-transfer with wait answers the outcome", async () => {
  const node = new TransferNode();
  const app = createApp({ node, log: silentLogger });
  const moved = await call(app, "POST", "/v1/cluster/leadership-transfer", { wait: true });
  assert.equal(moved.status, 200, "done: the view names the new leader");
  assert.equal(moved.body.nodeId, "n1");
  const started = await call(app, "POST", "/v1/cluster/leadership-transfer", { to: "n1" });
  assert.equal(started.status, 202, "without wait: started");
  assert.deepEqual(node.waits, [true, false]);
  node.outcome = { ok: false, reason: "rejected", detail: "The leadership transfer was abandoned" };
  const abandoned = await call(app, "POST", "/v1/cluster/leadership-transfer", { wait: true });
  assert.equal(abandoned.status, 409);
  assert.equal(abandoned.body.type, "conflict");
  assert.match(abandoned.body.detail, /abandoned/);
  node.outcome = { ok: false, reason: "unknown_outcome" };
  const unknown = await call(app, "POST", "/v1/cluster/leadership-transfer", { wait: true });
  assert.equal(unknown.status, 504);
  const bad = await call(app, "POST", "/v1/cluster/leadership-transfer", { wait: "yes" });
  assert.equal(bad.body.type, "invalid_request");
});
