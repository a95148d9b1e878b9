/**
 * The HTTP contract's bad inputs, operations endpoints and auth, as steps over a base URL (a
 * node or an edge gateway): see `contract.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { assertProblem, assertStatus, call } from "./http.ts";

/** The checks every bad input must pass: a problem with a stable type, node still healthy. */
async function badInput(
  base: string,
  method: string,
  path: string,
  init: Parameters<typeof call>[3],
  status: number,
  type: string,
): Promise<void> {
  const answer = await call(base, method, path, init);
  const problem = assertProblem(answer, status, type);
  assert.equal(typeof problem.detail, "string", answer.text);
  assertStatus(await call(base, "GET", "/healthz"), 200);
}

/**
 * Bad inputs (400, 413, 404, 405, 415), then `/healthz`, `/readyz`, `/openapi.json`, `/metrics`,
 * at `base`, whose cluster runs with `--max-body-bytes 65536` and auth off; `leaderId` is what
 * `/readyz` must name.
 */
export async function inputSteps(
  t: Deno.TestContext,
  base: string,
  leaderId: string,
): Promise<void> {
  assertStatus(await call(base, "PUT", "/v1/queues/in", { body: {} }), 201);
  await t.step("malformed JSON, wrong types, unknown fields, bad names: 400", async () => {
    const post = (body: unknown) => ({ body });
    const cases: Array<[string, string, unknown]> = [
      ["POST", "/v1/queues/in/messages", "{not json"],
      ["POST", "/v1/queues/in/messages", ""],
      ["POST", "/v1/queues/in/messages", { id: "x" }],
      ["POST", "/v1/queues/in/messages", { body: 1, id: 7 }],
      ["POST", "/v1/queues/in/messages", { body: 1, delayMs: -1 }],
      ["POST", "/v1/queues/in/messages", { body: 1, surprise: true }],
      ["POST", "/v1/queues/in/messages", { messages: "no" }],
      ["POST", "/v1/queues/in/receive", { max: 0 }],
      ["POST", "/v1/queues/in/receive", { max: 1001 }],
      ["POST", "/v1/queues/in/ack", { receipts: "r" }],
      ["PUT", "/v1/queues/in", { deliveryMode: "twice" }],
      ["PUT", "/v1/queues/in", { leaseMs: "10" }],
      ["PUT", "/v1/queues/in", [1, 2]],
      ["PUT", "/v1/queues/bad%20name", {}],
      ["PUT", `/v1/queues/${"x".repeat(129)}`, {}],
      ["PUT", "/v1/topics/bad!name", {}],
      ["POST", "/v1/transactions", { ack: [{ receipt: "r" }], publish: [] }],
      ["GET", "/v1/topics/t/messages?fromSeq=abc", undefined],
    ];
    for (const [method, path, body] of cases) {
      await badInput(base, method, path, post(body), 400, "invalid_request");
    }
  });
  await t.step("a body over --max-body-bytes: 413, declared or chunked", async () => {
    const big = { body: "x".repeat(70_000) };
    await badInput(
      base,
      "POST",
      "/v1/queues/in/messages",
      { body: big },
      413,
      "payload_too_large",
    );
    const chunks = new ReadableStream<Uint8Array>({
      start(c) {
        const part = new TextEncoder().encode(`{"body":"${"y".repeat(40_000)}`);
        c.enqueue(part);
        c.enqueue(new TextEncoder().encode(`${"y".repeat(40_000)}"}`));
        c.close();
      },
    });
    const res = await fetch(`${base}/v1/queues/in/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chunks,
    });
    const problem = await res.json();
    assert.equal(res.status, 413);
    assert.equal(problem.type, "payload_too_large");
  });
  await t.step("unknown route 404, wrong method 405 with Allow, wrong media 415", async () => {
    await badInput(base, "GET", "/v2/queues", {}, 404, "not_found");
    await badInput(base, "GET", "/v1/queues/in/nothing/here", {}, 404, "not_found");
    const wrong = await call(base, "PATCH", "/v1/queues/in", { body: {} });
    assertProblem(wrong, 405, "method_not_allowed");
    assert.match(wrong.headers.get("allow") ?? "", /PUT/);
    await badInput(base, "DELETE", "/v1/queues/in/messages", {}, 405, "method_not_allowed");
    await badInput(
      base,
      "POST",
      "/v1/queues/in/messages",
      {
        body: "hello",
        headers: { "content-type": "text/plain" },
      },
      415,
      "unsupported_media_type",
    );
    await badInput(
      base,
      "POST",
      "/v1/queues/none/messages",
      { body: { body: 1 } },
      404,
      "queue_not_found",
    );
  });
  await t.step("after all that the queue is untouched and the node serves", async () => {
    const q = await call(base, "GET", "/v1/queues/in");
    assert.equal(q.body.published, 0, q.text);
    assertStatus(await call(base, "POST", "/v1/queues/in/messages", { body: { body: 1 } }), 201);
    assertStatus(await call(base, "GET", "/readyz"), 200);
  });
  await t.step("/healthz, /readyz, /openapi.json", async () => {
    const h = await call(base, "GET", "/healthz");
    assertStatus(h, 200);
    const r = await call(base, "GET", "/readyz");
    assertStatus(r, 200);
    assert.equal(r.body.leaderId, leaderId, r.text);
    const o = await call(base, "GET", "/openapi.json");
    assertStatus(o, 200);
    assert.match(o.body.openapi, /^3\./);
    for (const p of ["/v1/queues/{q}", "/v1/queues/{q}/messages", "/v1/transactions"]) {
      assert.ok(o.body.paths[p], `openapi lacks ${p}`);
    }
  });
  await t.step("/metrics is Prometheus text with the families", async () => {
    const m = await call(base, "GET", "/metrics");
    assertStatus(m, 200);
    assert.match(m.headers.get("content-type") ?? "", /^text\/plain/);
    const families = parsePrometheus(m.text);
    for (
      const f of [
        "quorumq_raft_term",
        "quorumq_raft_commit_index",
        "quorumq_raft_applied_index",
        "quorumq_http_requests_total",
        "quorumq_http_request_duration_seconds",
      ]
    ) {
      assert.ok(families.has(f), `metrics lack ${f}; have ${[...families.keys()].join(" ")}`);
    }
    assert.ok([...families.keys()].some((f) => f.startsWith("quorumq_messages_")));
    assert.equal(families.get("quorumq_http_request_duration_seconds"), "histogram");
  });
}

/**
 * Parses Prometheus text exposition 0.0.4 strictly enough to catch a broken line: every sample
 * belongs to a family declared by `# TYPE` (histograms through `_bucket`, `_sum`, `_count`) and
 * has a float value. Returns family name → type.
 */
function parsePrometheus(text: string): Map<string, string> {
  const types = new Map<string, string>();
  const sample =
    /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?\d+)?$/;
  let samples = 0;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const type = line.match(
      /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/,
    );
    if (type) {
      assert.ok(!types.has(type[1]), `family ${type[1]} declared twice`);
      types.set(type[1], type[2]);
      continue;
    }
    if (line.startsWith("# HELP ")) continue;
    const s = line.match(sample);
    assert.ok(s, `not a Prometheus sample line: ${line}`);
    const name = s[1];
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, "");
    assert.ok(types.has(family), `sample ${name} has no # TYPE`);
    samples++;
  }
  assert.ok(samples > 0, "no samples");
  return types;
}

/** Tokens of the auth steps; `edge` is a gateway's relay token (docs/edge.md). */
export const AUTH = {
  tokens: [
    { name: "shop", token: "tok-publish-orders", publish: ["orders.*"], consume: [], admin: [] },
    { name: "worker", token: "tok-consume-jobs", consume: ["queue:jobs"], publish: [] },
    { name: "ops", token: "tok-admin-all-0001", admin: ["*"], publish: ["*"], consume: ["*"] },
    { name: "edge", token: "tok-edge-relay-001", relay: true },
  ],
};

/**
 * 401, 403 and the permissions on name patterns, at `f` (a follower or a gateway), with `AUTH`
 * on the cluster; `leader` is the leader's URL, where the last check reads.
 */
export async function authSteps(t: Deno.TestContext, f: string, leader: string): Promise<void> {
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const admin = bearer("tok-admin-all-0001");
  await t.step("no token or a wrong token: 401; public paths stay open", async () => {
    assertProblem(await call(f, "GET", "/v1/queues"), 401, "unauthorized");
    assertProblem(
      await call(f, "GET", "/v1/queues", { headers: bearer("tok-wrong-00000") }),
      401,
      "unauthorized",
    );
    assertProblem(
      await call(f, "GET", "/v1/queues", { headers: { authorization: "Basic abc" } }),
      401,
      "unauthorized",
    );
    assertStatus(await call(f, "GET", "/healthz"), 200);
    assertStatus(await call(f, "GET", "/readyz"), 200);
    assertStatus(await call(f, "GET", "/openapi.json"), 200);
    assertProblem(await call(f, "GET", "/metrics"), 401, "unauthorized");
    assertStatus(await call(f, "GET", "/metrics", { headers: admin }), 200);
  });
  await t.step("admin creates; publish and consume follow the patterns (403)", async () => {
    for (const q of ["orders.eu", "jobs", "other"]) {
      assertStatus(await call(f, "PUT", `/v1/queues/${q}`, { body: {}, headers: admin }), 201);
    }
    const shop = bearer("tok-publish-orders");
    const worker = bearer("tok-consume-jobs");
    assertStatus(
      await call(f, "POST", "/v1/queues/orders.eu/messages", {
        body: { body: 1 },
        headers: shop,
      }),
      201,
    );
    assertProblem(
      await call(f, "POST", "/v1/queues/jobs/messages", { body: { body: 1 }, headers: shop }),
      403,
      "forbidden",
    );
    assertProblem(
      await call(f, "PUT", "/v1/queues/orders.us", { body: {}, headers: shop }),
      403,
      "forbidden",
    );
    assertProblem(
      await call(f, "POST", "/v1/queues/orders.eu/receive", { body: {}, headers: shop }),
      403,
      "forbidden",
    );
    assertStatus(
      await call(f, "POST", "/v1/queues/jobs/messages", { body: { body: 2 }, headers: admin }),
      201,
    );
    const got = await call(f, "POST", "/v1/queues/jobs/receive", { body: {}, headers: worker });
    assertStatus(got, 200);
    assert.equal(got.body.messages.length, 1, got.text);
    assertProblem(
      await call(f, "POST", "/v1/queues/other/receive", { body: {}, headers: worker }),
      403,
      "forbidden",
    );
    assertProblem(
      await call(f, "POST", "/v1/queues/jobs/messages", { body: { body: 1 }, headers: worker }),
      403,
      "forbidden",
    );
    assertProblem(await call(f, "GET", "/v1/cluster", { headers: worker }), 403, "forbidden");
    assertStatus(await call(f, "GET", "/v1/cluster", { headers: admin }), 200);
    const q = await call(leader, "GET", "/v1/queues/jobs", { headers: admin });
    assert.equal(q.body.published, 1, q.text);
  });
}
