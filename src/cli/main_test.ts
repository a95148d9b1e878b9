import assert from "node:assert/strict";
import { main } from "./main.ts";
import type { Io } from "./io.ts";
import { readLines } from "./io.ts";
import { TestBroker } from "../http/testing/test_broker.ts";
import { percentile, summarize } from "./bench.ts";
import { QUEUE_DEFAULTS } from "../broker/mod.ts";

/** Drains `queue` through the app (receive, then ack, until empty; fifo allows one at a time). */
async function drain(broker: TestBroker, queue: string) {
  const post = async (op: string, body: unknown) =>
    await (await broker.fetch(`http://test/v1/queues/${queue}/${op}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    })).json();
  const out: { body: unknown; headers: Record<string, string> }[] = [];
  for (let i = 0; i < 100; i++) {
    const { messages } = await post("receive", { max: 1000 });
    if (messages.length === 0) break;
    out.push(...messages);
    await post("ack", { receipts: messages.map((m: { receipt: string }) => m.receipt) });
  }
  return out;
}

interface Captured {
  io: Io;
  out: string[];
  err: () => string;
  execs: { command: string; input: string; env: Record<string, string> }[];
}

function capture(
  broker: TestBroker,
  options: { stdin?: string[]; exitCode?: number; signal?: AbortSignal; terminal?: boolean } = {},
): Captured {
  const out: string[] = [];
  let err = "";
  const execs: Captured["execs"] = [];
  const io: Io = {
    out: (line) => out.push(line),
    err: (text) => err += text,
    errIsTerminal: options.terminal ?? false,
    async *stdinLines() {
      for (const line of options.stdin ?? []) yield line;
    },
    env: (name) => ({ QUORUMQ_NODES: "http://env-node:1" } as Record<string, string>)[name],
    signal: options.signal ?? new AbortController().signal,
    fetch: broker.fetch,
    exec: (command, input, env) => {
      execs.push({ command, input: new TextDecoder().decode(input), env });
      return Promise.resolve(options.exitCode ?? 0);
    },
  };
  return { io, out, err: () => err, execs };
}

Deno.test("mq --help lists the commands; each command has --help", async () => {
  const broker = new TestBroker();
  const top = capture(broker);
  assert.equal(await main(["--help"], top.io), 0);
  for (const name of ["queues", "create", "publish", "consume", "status", "bench"]) {
    assert.match(top.out[0], new RegExp(`\\n  ${name} `));
    const one = capture(broker);
    assert.equal(await main([name, "--help"], one.io), 0);
    assert.match(one.out[0], new RegExp(`^Usage: mq ${name}`));
    assert.match(one.out[0], /--nodes/);
  }
  assert.equal(broker.seen.length, 0);
});

Deno.test("mq reports usage errors with exit code 2", async () => {
  const broker = new TestBroker();
  const unknown = capture(broker);
  assert.equal(await main(["frobnicate"], unknown.io), 2);
  assert.match(unknown.err(), /unknown command "frobnicate"/);
  const badFlag = capture(broker);
  assert.equal(await main(["create", "q", "--nope"], badFlag.io), 2);
  assert.match(badFlag.err(), /Usage: mq create/);
  const badInt = capture(broker);
  assert.equal(await main(["create", "q", "--lease-ms", "soon"], badInt.io), 2);
  assert.match(badInt.err(), /--lease-ms must be a non-negative integer/);
});

Deno.test("mq create, publish (arguments and stdin) and queues work against a broker", async () => {
  const broker = new TestBroker();
  const created = capture(broker);
  assert.equal(
    await main([
      "--nodes",
      "http://a:1,http://b:2",
      "create",
      "jobs",
      "--mode",
      "exactly_once",
      "--lease-ms",
      "500",
      "--fifo",
    ], created.io),
    0,
  );
  assert.deepEqual(broker.queue("jobs")!.config, {
    ...QUEUE_DEFAULTS,
    deliveryMode: "exactly_once",
    leaseMs: 500,
    fifo: true,
  });
  const published = capture(broker);
  assert.equal(
    await main(
      ["publish", "jobs", '{"n":1}', "plain text", "--header", "k=v", "--json"],
      published.io,
    ),
    0,
  );
  assert.equal(published.out.length, 2);
  const fromStdin = capture(broker, { stdin: ["a", "", "b", "c"] });
  assert.equal(await main(["publish", "jobs", "--raw", "--batch", "2"], fromStdin.io), 0);
  assert.equal(broker.seen.filter((s) => s.method === "POST").length, 1 + 2);
  const listed = capture(broker, {});
  assert.equal(await main(["queues"], listed.io), 0);
  assert.match(listed.out[0], /^QUEUE\s+MODE\s+READY/);
  assert.match(listed.out[1], /^jobs\s+exactly_once\s+5\s+0/);
  const stored = await drain(broker, "jobs");
  assert.deepEqual(stored.map((m) => m.body), [{ n: 1 }, "plain text", "a", "b", "c"]);
  assert.deepEqual(stored[0].headers, { k: "v" });
});

Deno.test("mq uses QUORUMQ_NODES when --nodes is absent", async () => {
  const broker = new TestBroker();
  const urls: string[] = [];
  const c = capture(broker);
  c.io.fetch = (input, init) => {
    urls.push(String(input));
    return broker.fetch(input, init);
  };
  await main(["queues", "--json"], c.io);
  assert.deepEqual(urls, ["http://env-node:1/v1/queues"]);
  assert.equal(c.out[0], "[]");
});

Deno.test("mq consume prints messages and acks them, stopping at --count", async () => {
  const broker = new TestBroker();
  await main(["create", "jobs"], capture(broker).io);
  await main(["publish", "jobs", "one", "two", "three"], capture(broker).io);
  const c = capture(broker);
  assert.equal(
    await main(["consume", "jobs", "--count", "2", "--wait-ms", "20", "--json"], c.io),
    0,
  );
  assert.deepEqual(c.out.map((line) => JSON.parse(line).body), ["one", "two"]);
  assert.deepEqual(JSON.parse(c.err()), { received: 2, acked: 2, nacked: 0, lost: 0, errors: 0 });
  const { stats } = broker.queue("jobs")!;
  assert.deepEqual([stats.acked, stats.ready], [2, 1]);
});

Deno.test("mq consume --exec passes the body on stdin, acks on exit 0 and nacks otherwise", async () => {
  const broker = new TestBroker();
  await main(["create", "jobs"], capture(broker).io);
  await main(["publish", "jobs", '{"x":1}', "--id", "m1"], capture(broker).io);
  const failing = capture(broker, { exitCode: 3 });
  assert.equal(
    await main(
      ["consume", "jobs", "--exec", "cat >/dev/null", "--count", "1", "--wait-ms", "20"],
      failing.io,
    ),
    0,
  );
  assert.equal(failing.execs[0].input, '{"x":1}');
  assert.equal(failing.execs[0].env.QUORUMQ_MESSAGE_ID, "m1");
  assert.match(failing.err(), /exited with 3/);
  assert.match(failing.err(), /nacked 1/);
  assert.equal(broker.messageStatus("jobs", "m1")!.state, "delayed", "nacked with a backoff");
  broker.advance(60_000); // skip the nack backoff
  const passing = capture(broker, { exitCode: 0 });
  assert.equal(
    await main(
      ["consume", "jobs", "--exec", "true", "--count", "1", "--wait-ms", "20"],
      passing.io,
    ),
    0,
  );
  assert.equal(passing.execs[0].env.QUORUMQ_MESSAGE_ATTEMPT, "2");
  assert.equal(broker.messageStatus("jobs", "m1")!.state, "acked");
});

Deno.test("mq consume stops on Ctrl-C (the abort signal)", async () => {
  const broker = new TestBroker();
  await main(["create", "jobs"], capture(broker).io);
  const controller = new AbortController();
  const c = capture(broker, { signal: controller.signal });
  setTimeout(() => controller.abort(), 50);
  assert.equal(await main(["consume", "jobs", "--wait-ms", "10000"], c.io), 0);
  assert.match(c.err(), /received 0/);
});

Deno.test("mq status shows leader, term, commit index and lag per follower", async () => {
  const broker = new TestBroker({
    peers: [
      { id: "n2", url: "http://n2:1", role: "follower", matchIndex: 2, lastContactMs: 12 },
      { id: "n3", url: "http://n3:1", role: "follower", matchIndex: 4, lastContactMs: 3 },
    ],
  });
  await main(["create", "jobs"], capture(broker).io);
  for (const body of ["a", "b", "c"]) await main(["publish", "jobs", body], capture(broker).io);
  const c = capture(broker);
  assert.equal(await main(["status"], c.io), 0);
  assert.match(c.out[0], /^leader n1 {2}term 1 {2}commit 4/);
  assert.match(c.out.find((l) => l.startsWith("n2"))!, /^n2\s+follower\s+\S+\s+2\s+2\s+12 ms$/);
  const json = capture(broker);
  await main(["status", "--json"], json.io);
  assert.deepEqual(JSON.parse(json.out[0]).lag, { n1: 0, n2: 2, n3: 0 });
});

Deno.test("mq bench publishes and consumes every message and prints percentiles", async () => {
  const broker = new TestBroker();
  const c = capture(broker, { terminal: true });
  assert.equal(
    await main([
      "bench",
      "--messages",
      "50",
      "--concurrency",
      "4",
      "--batch",
      "5",
      "--size",
      "10",
      "--json",
    ], c.io),
    0,
  );
  const result = JSON.parse(c.out[0]);
  assert.equal(result.publish.messages, 50);
  assert.equal(result.publish.requests, 10);
  assert.equal(result.consume.messages, 50);
  assert.ok(result.publish.p99Ms >= result.publish.p50Ms);
  assert.match(c.err(), /\rpublish 50\/50/);
  assert.equal(broker.queues().length, 0, "the fresh bench queue is deleted");
});

Deno.test("mq bench writes no \\r progress lines when stderr is not a terminal", async () => {
  const broker = new TestBroker();
  const c = capture(broker, { terminal: false });
  const args = ["bench", "--messages", "20", "--concurrency", "2", "--batch", "5", "--json"];
  assert.equal(await main(args, c.io), 0);
  assert.equal(JSON.parse(c.out[0]).consume.messages, 20);
  assert.doesNotMatch(c.err(), /\r/);
});

Deno.test("percentile() and summarize() use nearest rank", () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(values, 50), 50);
  assert.equal(percentile(values, 99), 99);
  assert.equal(percentile([7], 90), 7);
  assert.equal(percentile([], 50), 0);
  assert.deepEqual(summarize(10, [3, 1, 2], 2), {
    messages: 10,
    requests: 3,
    seconds: 2,
    msgsPerSec: 5,
    p50Ms: 2,
    p90Ms: 3,
    p99Ms: 3,
  });
});

Deno.test("readLines() splits chunks at line ends, CRLF included", async () => {
  const chunks = ["a\r\nb", "c\n", "\nlast"].map((s) => new TextEncoder().encode(s));
  const stream = ReadableStream.from(chunks);
  const lines: string[] = [];
  for await (const line of readLines(stream)) lines.push(line);
  assert.deepEqual(lines, ["a", "bc", "", "last"]);
});
