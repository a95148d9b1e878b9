import assert from "node:assert/strict";
import type { Delivery, SubscriptionOptions } from "./commands.ts";
import { body, Log, text } from "./_testing.ts";
import { restoreSnapshot, snapshotBytes } from "./snapshot.ts";
import { checkPattern, checkSubject, subjectMatches } from "./subject.ts";

function setup(): Log {
  const l = new Log();
  assert.ok(l.apply({ op: "topic_put", topic: "t", options: {} }).ok);
  return l;
}

function sub(l: Log, name: string, options: SubscriptionOptions) {
  return l.apply({ op: "subscription_put", topic: "t", subscription: name, options });
}

function pub(l: Log, subject: string | undefined, headers?: Record<string, string>) {
  const message = {
    body: body(subject ?? "-"),
    ...(subject !== undefined ? { subject } : {}),
    ...(headers !== undefined ? { headers } : {}),
  };
  const r = l.apply({ op: "topic_publish", topic: "t", message });
  assert.ok(r.ok, r.ok ? "" : r.detail);
  return r;
}

function recv(l: Log, name: string): Delivery[] {
  const r = l.apply({ op: "subscription_receive", topic: "t", subscription: name, max: 100 });
  assert.ok(r.ok);
  return [...r.messages];
}

Deno.test("each subscription gets exactly the subjects its filters match, in order", () => {
  const l = setup();
  assert.ok(sub(l, "all", {}).ok);
  assert.ok(sub(l, "created", { filter: "orders.*.created" }).ok);
  assert.ok(sub(l, "eu", { filters: ["orders.eu.>", "audit.eu"] }).ok);
  assert.ok(sub(l, "exact", { filter: "orders.us.created" }).ok);
  const stream = [
    "orders.eu.created",
    "orders.us.created",
    "orders.eu.paid.late",
    "audit.eu",
    "orders.created",
    undefined,
    "orders.eu",
  ];
  for (const s of stream) pub(l, s);
  assert.deepEqual(recv(l, "all").map(text), stream.map((s) => s ?? "-"));
  assert.deepEqual(recv(l, "created").map(text), ["orders.eu.created", "orders.us.created"]);
  assert.deepEqual(recv(l, "eu").map(text), [
    "orders.eu.created",
    "orders.eu.paid.late",
    "audit.eu",
  ]);
  assert.deepEqual(recv(l, "exact").map((d) => d.subject), ["orders.us.created"]);
});

Deno.test("header conditions: equal and exists, with or without a subject filter", () => {
  const l = setup();
  assert.ok(sub(l, "eu", { headers: { region: "eu" } }).ok);
  assert.ok(sub(l, "urgent", { filter: "a.>", headers: { priority: { exists: true } } }).ok);
  assert.ok(sub(l, "plain", { headers: { priority: { exists: false } } }).ok);
  pub(l, "a.1", { region: "eu" });
  pub(l, "a.2", { region: "us", priority: "high" });
  pub(l, "b.3", { priority: "" });
  pub(l, undefined, { region: "eu" });
  assert.deepEqual(recv(l, "eu").map(text), ["a.1", "-"]);
  assert.deepEqual(recv(l, "urgent").map(text), ["a.2"]);
  assert.deepEqual(recv(l, "plain").map(text), ["a.1", "-"]);
});

Deno.test("changing filters routes new messages only; stored ones stay", () => {
  const l = setup();
  assert.ok(sub(l, "s", { filter: "x.*" }).ok);
  pub(l, "x.1");
  pub(l, "y.1");
  const r = sub(l, "s", { filter: "y.*" });
  assert.ok(r.ok && !r.created);
  assert.deepEqual(r.config.filters, ["y.*"]);
  pub(l, "x.2");
  pub(l, "y.2");
  assert.deepEqual(recv(l, "s").map(text), ["x.1", "y.2"]);
  const info = l.broker.subscription("t", "s")!;
  assert.deepEqual(info.config.filters, ["y.*"]);
  assert.equal(info.cursor, 5, "a filtered subscription's cursor passes unmatched seqs too");
  // No filter again: everything from now on.
  assert.ok(sub(l, "s", {}).ok);
  pub(l, "z");
  assert.deepEqual(recv(l, "s").map(text), ["z"]);
});

Deno.test("a deleted subscription is routed nothing; one recreated gets its new filter", () => {
  const l = setup();
  assert.ok(sub(l, "s", { filter: "a" }).ok);
  assert.ok(l.apply({ op: "subscription_delete", topic: "t", subscription: "s" }).ok);
  pub(l, "a");
  assert.ok(sub(l, "s", { filter: "b", startAt: "earliest" }).ok);
  pub(l, "a");
  pub(l, "b");
  assert.deepEqual(recv(l, "s").map(text), ["b"]);
});

Deno.test("a backfilled subscription (startAt earliest) gets only the retained matches", () => {
  const l = setup();
  for (const s of ["a.1", "b.1", "a.2", undefined]) pub(l, s, { k: "v" });
  assert.ok(sub(l, "s", { filter: "a.*", headers: { k: "v" }, startAt: "earliest" }).ok);
  assert.ok(sub(l, "n", { headers: { k: "w" }, startAt: "earliest" }).ok);
  assert.deepEqual(recv(l, "s").map(text), ["a.1", "a.2"]);
  assert.deepEqual(recv(l, "n"), []);
});

Deno.test("topic log reads filter by subject pattern and page past unmatched seqs", () => {
  const l = setup();
  for (const s of ["o.eu.created", "o.us.paid", "o.us.created", "p"]) pub(l, s);
  const page = l.broker.readTopicPage("t", 1, 10, "o.*.created")!;
  assert.deepEqual(page.messages.map((m) => [m.seq, m.subject]), [[1, "o.eu.created"], [
    3,
    "o.us.created",
  ]]);
  assert.equal(page.nextSeq, 5);
  const one = l.broker.readTopicPage("t", 1, 1, "o.>")!;
  assert.deepEqual(one.messages.map((m) => m.seq), [1]);
  assert.equal(one.nextSeq, 2);
  assert.equal(l.broker.readTopicPage("t", 1, 10, "q")!.messages.length, 0);
});

Deno.test("subjects and routing survive a snapshot and route the same after restore", () => {
  const l = setup();
  assert.ok(sub(l, "s", { filters: ["a.*", "b.>"], headers: { k: { exists: true } } }).ok);
  pub(l, "a.1", { k: "1" });
  const restored = new Log(restoreSnapshot(snapshotBytes(l.broker)));
  restored.index = l.index;
  restored.now = l.now;
  for (const log of [l, restored]) {
    pub(log, "b.x.y", { k: "2" });
    pub(log, "b.x.y");
    pub(log, "c", { k: "3" });
    assert.deepEqual(recv(log, "s").map((d) => d.subject), ["a.1", "b.x.y"]);
  }
  assert.deepEqual(snapshotBytes(restored.broker), snapshotBytes(l.broker));
});

Deno.test("dead-lettered subscription messages keep their subject", () => {
  const l = setup();
  l.queue("dlq");
  assert.ok(sub(l, "s", { maxDeliveries: 1, leaseMs: 10, deadLetterQueue: "dlq" }).ok);
  pub(l, "a.b");
  assert.equal(recv(l, "s").length, 1);
  l.advance(10);
  assert.deepEqual(l.receive("dlq").map((d) => d.subject), ["a.b"]);
});

Deno.test("bad subjects and patterns are refused, naming the pattern and what is wrong", () => {
  const l = setup();
  const cases: [SubscriptionOptions, RegExp][] = [
    [{ filter: "orders..x" }, /filter "orders\.\.x": token 2 is empty/],
    [{ filter: "orders.>.x" }, /filter "orders\.>\.x": ">" must be the last token/],
    [{ filter: "ord*" }, /filter "ord\*": token 1 \("ord\*"\) has a wildcard inside it/],
    [{ filters: ["a", "b.>x"] }, /filters\[1\] "b\.>x": token 2/],
    [{ filter: "" }, /filter "" must be 1\.\.255 bytes/],
    [{ filter: "a", filters: ["b"] }, /not both/],
    [{ filters: [] }, /filters must be a list of 1\.\.64/],
    [{ headers: { k: { exists: "yes" } as never } }, /headers\.k must be a string/],
  ];
  for (const [options, re] of cases) {
    const r = sub(l, "s", options);
    assert.ok(!r.ok && r.reason === "invalid_request", JSON.stringify(options));
    assert.match(r.detail, re);
  }
  for (const [subject, re] of [["a.*", /token 2 \("\*"\) has a wildcard/], ["a.", /empty/]]) {
    const r = l.apply({
      op: "topic_publish",
      topic: "t",
      message: { body: body("x"), subject: subject as string },
    });
    assert.ok(!r.ok && r.reason === "invalid_request");
    assert.match(r.detail, re as RegExp);
  }
  assert.match(checkSubject("é".repeat(128))!, /must be 1\.\.255 bytes \(it is 256\)/);
  assert.equal(checkSubject("é".repeat(127)), undefined);
  assert.equal(checkPattern("*.>"), undefined);
  assert.equal(checkPattern(">"), undefined);
});

Deno.test("subjectMatches: NATS semantics of * and >", () => {
  const yes: [string, string][] = [["a.*", "a.b"], ["a.>", "a.b.c"], [">", "a"], ["*.*", "x.y"]];
  const no: [string, string][] = [["a.*", "a"], ["a.*", "a.b.c"], ["a.>", "a"], ["*", "a.b"]];
  for (const [p, s] of yes) assert.ok(subjectMatches(p, s), `${p} ~ ${s}`);
  for (const [p, s] of no) assert.ok(!subjectMatches(p, s), `${p} !~ ${s}`);
});

Deno.test("retention drops a message from every filtered subscription that holds it", () => {
  const l = new Log();
  assert.ok(l.apply({ op: "topic_put", topic: "t", options: { maxMessages: 2 } }).ok);
  assert.ok(sub(l, "moved", { filter: "a.*" }).ok);
  assert.ok(sub(l, "other", { filter: "z" }).ok);
  pub(l, "a.1");
  assert.ok(sub(l, "moved", { filter: "b.*" }).ok); // holds a.1, no longer matches a.*
  assert.ok(sub(l, "late", { filter: "a.*", startAt: "earliest" }).ok); // a.1 by backfill
  const restored = new Log(restoreSnapshot(snapshotBytes(l.broker)));
  restored.index = l.index;
  restored.now = l.now;
  for (const log of [l, restored]) {
    pub(log, "b.1");
    pub(log, "b.2"); // over maxMessages: a.1 goes, from every subscription holding it
    for (const name of ["moved", "late"]) {
      const s = log.broker.subscription("t", name)!;
      assert.equal(s.stats.retentionDropped, 1, name);
    }
    assert.deepEqual(recv(log, "moved").map(text), ["b.1", "b.2"]);
    assert.deepEqual(recv(log, "late"), []);
  }
});
