import assert from "node:assert/strict";
import { call, localApp } from "./testing/call.ts";

const T = "/v1/topics/orders";

async function setup() {
  const t = localApp();
  assert.equal((await call(t.app, "PUT", T, {})).status, 201);
  return t;
}

type Got = { body: unknown; subject: string | null };

Deno.test("routing: filters, filters lists and header conditions over HTTP", async () => {
  const { app } = await setup();
  const created = await call(app, "PUT", `${T}/subscriptions/created`, {
    filter: "orders.*.created",
  });
  assert.equal(created.status, 201);
  assert.deepEqual(created.body.filters, ["orders.*.created"]);
  const eu = await call(app, "PUT", `${T}/subscriptions/eu`, {
    filters: ["orders.eu.>"],
    headers: { priority: { exists: true } },
    leaseMs: 5000,
  });
  assert.equal(eu.status, 201);
  assert.deepEqual(eu.body.headers, { priority: { exists: true } });
  assert.equal(eu.body.leaseMs, 5000);
  const one = await call(app, "POST", `${T}/messages`, {
    subject: "orders.eu.created",
    body: { n: 1 },
    headers: { priority: "high" },
  });
  assert.equal(one.status, 201);
  const batch = await call(app, "POST", `${T}/messages`, {
    messages: [
      { subject: "orders.us.created", body: { n: 2 } },
      { subject: "orders.eu.paid", body: { n: 3 }, headers: { priority: "low" } },
      { body: { n: 4 } },
    ],
  });
  assert.equal(batch.status, 201);
  const got = async (s: string) =>
    ((await call(app, "POST", `${T}/subscriptions/${s}/receive`, { max: 10 })).body
      .messages as Got[]).map((m) => [m.subject, m.body]);
  assert.deepEqual(await got("created"), [
    ["orders.eu.created", { n: 1 }],
    ["orders.us.created", { n: 2 }],
  ]);
  assert.deepEqual(await got("eu"), [["orders.eu.created", { n: 1 }], ["orders.eu.paid", {
    n: 3,
  }]]);
  const info = await call(app, "GET", `${T}/subscriptions/created`);
  assert.deepEqual(info.body.filters, ["orders.*.created"]);
  assert.equal(info.body.cursor, 5);
});

Deno.test("routing: a subscription's filter changes; the log reads by ?subject=", async () => {
  const { app } = await setup();
  await call(app, "PUT", `${T}/subscriptions/s`, { filter: "a.*" });
  await call(app, "POST", `${T}/messages`, { subject: "a.1", body: 1 });
  const changed = await call(app, "PUT", `${T}/subscriptions/s`, { filter: "b.*" });
  assert.equal(changed.status, 200);
  await call(app, "POST", `${T}/messages`, { subject: "a.2", body: 2 });
  await call(app, "POST", `${T}/messages`, { subject: "b.2", body: 3 });
  const r = await call(app, "POST", `${T}/subscriptions/s/receive`, { max: 10 });
  assert.deepEqual(r.body.messages.map((m: Got) => m.body), [1, 3]);
  const log = await call(app, "GET", `${T}/messages?subject=a.*&limit=10`);
  assert.equal(log.status, 200);
  assert.deepEqual(log.body.messages.map((m: Got) => [m.subject, m.body]), [["a.1", 1], [
    "a.2",
    2,
  ]]);
  assert.equal(log.body.nextSeq, 4);
  const all = await call(app, "GET", `${T}/messages`);
  assert.equal(all.body.messages.length, 3);
});

Deno.test("routing: bad patterns and subjects are 400 invalid_request naming what is wrong", async () => {
  const { app } = await setup();
  const cases: [string, string, unknown, RegExp][] = [
    ["PUT", `${T}/subscriptions/s`, { filter: "orders..x" }, /"orders\.\.x": token 2 is empty/],
    ["PUT", `${T}/subscriptions/s`, { filter: "a.>.b" }, /"a\.>\.b": ">" must be the last token/],
    ["PUT", `${T}/subscriptions/s`, { filter: "ord*" }, /"ord\*".*wildcard inside it/],
    ["PUT", `${T}/subscriptions/s`, { filters: ["ok", "x.y*"] }, /filters\.1.*"x\.y\*"/],
    ["PUT", `${T}/subscriptions/s`, { filter: "a", filters: ["b"] }, /not both/],
    ["PUT", `${T}/subscriptions/s`, { headers: { k: { exists: 1 } } }, /headers/],
    ["POST", `${T}/messages`, { subject: "orders.*", body: 1 }, /"orders\.\*".*wildcard/],
    ["POST", `${T}/messages`, { messages: [{ subject: "", body: 1 }] }, /1\.\.255 bytes/],
    ["GET", `${T}/messages?subject=a..b`, undefined, /"a\.\.b": token 2 is empty/],
  ];
  for (const [method, path, body, re] of cases) {
    const r = await call(app, method, path, body);
    assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)}`);
    assert.equal(r.body.type, "invalid_request");
    assert.match(r.body.detail, re);
  }
});

Deno.test("routing: /openapi.json documents subject, filter, filters, headers", async () => {
  const { app } = await setup();
  const doc = (await call(app, "GET", "/openapi.json")).body;
  const schemas = doc.components.schemas;
  assert.ok(schemas.NewMessage.properties.subject);
  for (const f of ["filter", "filters", "headers"]) {
    assert.ok(schemas.SubscriptionOptions.properties[f], f);
  }
  assert.ok(schemas.Delivery.properties.subject);
  const read = doc.paths["/v1/topics/{t}/messages"].get.parameters.map((p: { name: string }) =>
    p.name
  );
  assert.ok(read.includes("subject"), `log read parameters: ${read}`);
});
