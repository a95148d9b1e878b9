import assert from "node:assert/strict";
import { main } from "./main.ts";
import type { Io } from "./io.ts";
import { discoverLocalNodes, LOCAL_NODES } from "./discover.ts";
import { headerConditions } from "./topic_commands.ts";
import { TestBroker } from "../http/testing/test_broker.ts";

function capture(broker: TestBroker, env: Record<string, string> = {}) {
  const out: string[] = [];
  let err = "";
  const urls: string[] = [];
  const io: Io = {
    out: (line) => out.push(line),
    err: (text) => err += text,
    errIsTerminal: false,
    async *stdinLines() {},
    env: (name) => env[name],
    signal: new AbortController().signal,
    fetch: (input, init) => {
      urls.push(String(input));
      return broker.fetch(input, init);
    },
    exec: () => Promise.resolve(0),
  };
  return { io, out, err: () => err, urls };
}

const NODES = ["--nodes", "http://n1:1"];

async function mq(broker: TestBroker, ...args: string[]) {
  const c = capture(broker);
  const code = await main([...args, ...NODES], c.io);
  return { code, out: c.out, err: c.err() };
}

Deno.test("mq topic and sub: subjects, filters and header conditions end to end", async () => {
  const broker = new TestBroker();
  assert.equal((await mq(broker, "topic", "create", "orders", "--max-messages", "100")).code, 0);
  const created = await mq(broker, "sub", "create", "orders", "eu", "--filter", "orders.eu.>");
  assert.equal(created.code, 0, created.err);
  const two = ["--filter", "orders.*.created", "--filter", "audit.>", "--match", "region=eu"];
  assert.equal((await mq(broker, "sub", "create", "orders", "mixed", ...two)).code, 0);
  const flags = ["--match", "priority", "--match", "!test"];
  assert.equal((await mq(broker, "sub", "create", "orders", "urgent", ...flags)).code, 0);
  const publish = async (subject: string, ...rest: string[]) =>
    assert.equal(
      (await mq(broker, "topic", "publish", "orders", ...rest, "--subject", subject))
        .code,
      0,
    );
  await publish("orders.eu.created", '{"n":1}', "--header", "region=eu");
  await publish("orders.us.created", '{"n":2}', "--header", "priority=high");
  await publish("audit.x", '{"n":3}', "--header", "region=eu", "--header", "test=1");
  // --count: consume stops after that many; one more would wait for a message never routed.
  const consume = async (name: string, count: number) =>
    (await mq(broker, "sub", "consume", "orders", name, "--count", `${count}`, "--wait-ms", "0"))
      .out.map((line) => line.split("\t").slice(3).join(" "));
  assert.deepEqual(await consume("eu", 1), ['orders.eu.created {"n":1}']);
  assert.deepEqual(await consume("mixed", 2), ['orders.eu.created {"n":1}', 'audit.x {"n":3}']);
  assert.deepEqual(await consume("urgent", 1), ['orders.us.created {"n":2}']);
  // Nothing else was routed to them: each is empty now.
  for (const name of ["eu", "mixed", "urgent"]) {
    const info = broker.node.broker().subscription("orders", name)!;
    assert.equal(info.stats.ready + info.stats.leased, 0, name);
  }
  const read = await mq(broker, "topic", "read", "orders", "--subject", "*.*.created");
  assert.deepEqual(read.out.slice(1).map((l) => l.split(/\s+/)[1]), [
    "orders.eu.created",
    "orders.us.created",
  ]);
  assert.match(read.err, /next: --from-seq 4/);
  const bad = await mq(broker, "sub", "create", "orders", "x", "--filter", "ord*");
  assert.equal(bad.code, 1);
  assert.match(bad.err, /"ord\*".*wildcard inside it.*invalid_request 400/);
});

Deno.test("mq topic and sub --help; a missing name or unknown action is a usage error", async () => {
  const broker = new TestBroker();
  for (const name of ["topic", "sub"]) {
    const c = capture(broker);
    assert.equal(await main([name, "--help"], c.io), 0);
    assert.match(c.out[0], new RegExp(`^Usage: mq ${name}`));
  }
  assert.equal((await mq(broker, "topic", "create")).code, 2);
  assert.equal((await mq(broker, "sub", "frobnicate", "t", "s")).code, 2);
  assert.throws(() => headerConditions(["=v"]), /--match must be/);
  assert.deepEqual(headerConditions(["a=1", "b", "!c"]), {
    a: "1",
    b: { exists: true },
    c: { exists: false },
  });
});

Deno.test("mq without --nodes or QUORUMQ_NODES finds the local nodes that answer", async () => {
  const broker = new TestBroker();
  const c = capture(broker);
  // Only the dev cluster's ports answer; 8080 (a one-node broker) is not running.
  c.io.fetch = (input, init) => {
    const url = String(input);
    c.urls.push(url);
    if (url.startsWith("http://127.0.0.1:8080")) {
      return Promise.reject(new TypeError("Connection refused"));
    }
    return broker.fetch(input, init);
  };
  assert.equal(await main(["queues", "--json"], c.io), 0);
  assert.equal(c.out[0], "[]");
  const calls = c.urls.filter((u) => u.endsWith("/v1/queues"));
  assert.deepEqual(calls, ["http://127.0.0.1:8081/v1/queues"]);
  const none = await discoverLocalNodes(() => Promise.reject(new TypeError("refused")));
  assert.deepEqual(none, [...LOCAL_NODES], "nothing answers: every default, retries report it");
});
