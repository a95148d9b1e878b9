/**
 * The client against real node processes: `consume` and `consumeExactlyOnce` while the
 * leader is SIGKILLed, the `mq` CLI (spawned), and the shop example run as docs/client.md says.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Client, Conflict } from "../../src/client/mod.ts";
import { Nodes, sleep } from "./nodes.ts";
import { eventually } from "./http.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

function clientFor(nodes: Nodes): Client {
  return new Client({
    nodes: nodes.urls(),
    timeoutMs: 3_000,
    retry: { attempts: 30, totalMs: 30_000, baseDelayMs: 50, maxDelayMs: 500 },
  });
}

/** Publishes `count` messages with ids `<prefix>-<i>` in batches of 50. */
async function fill(client: Client, queue: string, prefix: string, count: number) {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (let i = 0; i < count; i += 50) {
    await client.publishBatch(queue, ids.slice(i, i + 50).map((id) => ({ id, body: { id } })));
  }
  return ids;
}

/**
 * Kills the leader once `ready()` holds and asserts `unfinished()` still held at the kill (the
 * kill really was mid-run); restarts it after a new leader is agreed.
 */
async function killLeaderWhen(
  nodes: Nodes,
  ready: () => boolean,
  unfinished: () => boolean,
): Promise<string> {
  await eventually("the consumers to get going", () => Promise.resolve(ready() || undefined));
  const leader = await nodes.waitLeader();
  await nodes.kill(leader);
  assert.ok(unfinished(), "the consumers finished before the leader was killed");
  const next = await nodes.waitLeader(10_000);
  assert.notEqual(next, leader);
  nodes.spawn(leader);
  return leader;
}

Deno.test("e2e client: consumers keep going through a leader SIGKILL", async (t) => {
  const nodes = await Nodes.start({ count: 3 });
  const client = clientFor(nodes);
  try {
    await t.step(
      "consume: every message handled, all acked",
      () => consumeThroughKill(nodes, client),
    );
    await t.step(
      "consumeExactlyOnce: each side effect happens exactly once",
      () => exactlyOnceThroughKill(nodes, client),
    );
    await t.step(
      "topics, subscriptions and cluster calls through the client",
      () => topicsAndCluster(nodes, client),
    );
  } finally {
    await nodes.stop();
  }
});

/** `consume` on 400 jobs while the leader is killed: every job handled, all acked. */
async function consumeThroughKill(nodes: Nodes, client: Client): Promise<void> {
  await client.createQueue("jobs", { deliveryMode: "at_least_once", leaseMs: 5_000 });
  const ids = await fill(client, "jobs", "job", 400);
  const handled = new Map<string, number>();
  const stop = new AbortController();
  const errors: unknown[] = [];
  // Past 50 jobs the handlers wait until the leader is dead, so the kill lands mid-run however
  // fast the consumers are (push delivery with settles in batches once finished all 400 first).
  let openGate!: () => void;
  const gate = new Promise<void>((resolve) => openGate = resolve);
  const consumer = client.consume("jobs", async (m) => {
    await sleep(5);
    if (handled.size >= 50) await gate;
    handled.set(m.id, (handled.get(m.id) ?? 0) + 1);
  }, { concurrency: 8, waitMs: 500, signal: stop.signal, onError: (e) => errors.push(e) });
  try {
    await killLeaderWhen(nodes, () => handled.size >= 50, () => handled.size < ids.length);
  } finally {
    openGate();
  }
  await eventually("every job handled", () => {
    return Promise.resolve(ids.every((id) => handled.has(id)) || undefined);
  }, 40_000);
  stop.abort();
  const stats = await consumer;
  assert.ok(ids.every((id) => handled.has(id)));
  assert.equal(handled.size, ids.length, "a message nobody published was handled");
  const q = await eventually("the queue settled", async () => {
    const info = await client.getQueue("jobs");
    return info.acked === ids.length && info.leased === 0 ? info : undefined;
  });
  assert.equal(q.ready, 0);
  assert.ok(stats.acked >= 1, JSON.stringify(stats));
}

/** `consumeExactlyOnce` on 300 orders while the leader is killed: each effect exactly once. */
async function exactlyOnceThroughKill(nodes: Nodes, client: Client): Promise<void> {
  await client.createQueue("eo-in", { deliveryMode: "exactly_once", leaseMs: 5_000 });
  await client.createQueue("eo-out", { deliveryMode: "at_least_once" });
  const ids = await fill(client, "eo-in", "order", 300);
  let handled = 0;
  const stop = new AbortController();
  // Past 50 orders the handlers wait until the leader is dead, so the kill lands mid-run
  // however fast the consumers are (a prefetching client once finished all 300 first).
  let openGate!: () => void;
  const gate = new Promise<void>((resolve) => openGate = resolve);
  const workers = [0, 1].map(() =>
    client.consumeExactlyOnce("eo-in", async (m) => {
      handled++;
      if (handled > 50) await gate;
      return [{ queue: "eo-out", body: { order: m.id } }];
    }, { concurrency: 4, waitMs: 500, signal: stop.signal, onError: () => {} })
  );
  try {
    await killLeaderWhen(nodes, () => handled >= 50, () => handled < ids.length);
  } finally {
    openGate();
  }
  await eventually("every order acked", async () => {
    const info = await client.getQueue("eo-in");
    return info.acked === ids.length ? info : undefined;
  }, 40_000);
  stop.abort();
  await Promise.all(workers);
  const effects = new Map<string, number>();
  for (let round = 0; round < 100; round++) {
    const msgs = await client.receive("eo-out", { max: 1000, waitMs: 100 });
    if (msgs.length === 0) break;
    for (const m of msgs) {
      const order = (m.body as { order: string }).order;
      effects.set(order, (effects.get(order) ?? 0) + 1);
    }
    await client.ack("eo-out", msgs.map((m) => m.receipt));
  }
  assert.deepEqual([...effects.keys()].sort(), [...ids].sort());
  assert.deepEqual([...effects].filter(([, n]) => n !== 1), []);
}

/** Topics, subscriptions, the cluster view and a leadership transfer through the client. */
async function topicsAndCluster(nodes: Nodes, client: Client): Promise<void> {
  await client.topics.create("audit-log");
  for (const s of ["a", "b"]) {
    await client.subscriptions.create("audit-log", s, { startAt: "earliest" });
  }
  await client.topics.publish("audit-log", { id: "t0", body: 0 });
  await client.topics.publishBatch("audit-log", [1, 2].map((n) => ({ id: `t${n}`, body: n })));
  const log = await client.topics.read("audit-log", { limit: 10 });
  assert.deepEqual(log.map((m) => m.id), ["t0", "t1", "t2"]);
  for (const s of ["a", "b"]) {
    const seen: unknown[] = [];
    const stats = await client.consume({ topic: "audit-log", subscription: s }, (m) => {
      seen.push(m.body);
    }, { maxMessages: 3, waitMs: 500 });
    assert.deepEqual(seen.sort(), [0, 1, 2], `subscription ${s}`);
    assert.equal(stats.acked, 3);
  }
  // The node killed in the step before was only respawned: a transfer to it while it still
  // starts up is abandoned after an election timeout (as in etcd), and leadership never moves.
  await eventually("every node ready", async () => {
    const ready = await Promise.all(nodes.ids.map(async (id) => {
      const res = await fetch(`${nodes.url(id)}/readyz`).catch(() => undefined);
      await res?.body?.cancel();
      return res?.ok === true;
    }));
    return ready.every(Boolean) || undefined;
  });
  const view = await client.cluster.view();
  assert.equal(view.members.length, 3);
  const before = view.leaderId;
  const to = nodes.ids.find((id) => id !== before)!;
  // With wait the answer is the outcome: the view naming the new leader, or Conflict when the
  // leader abandoned the transfer (ask again; three in a row on a ready cluster are not legitimate).
  let moved: { leaderId?: string } | undefined;
  for (let attempt = 0; attempt < 3 && moved === undefined; attempt++) {
    moved = await client.cluster.transferLeadership(to, { wait: true }).then(
      (v) => v as { leaderId?: string },
      (e) => {
        if (e instanceof Conflict) return undefined;
        throw e;
      },
    );
  }
  assert.equal(moved?.leaderId, to);
}

/** Runs `deno task mq <args>` in the repository and answers its exit code and output. */
async function mq(args: string[], stdin?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "mq", ...args],
    cwd: ROOT,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Every stdout line parsed as JSON (the CLI's `--json` promise). */
function jsonLines(stdout: string): unknown[] {
  return stdout.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

/**
 * An unknown command is a usage error (2); `mq bench` measures HTTP and the stream, each
 * consuming every message it published.
 */
async function usageAndBench(global: string[]) {
  const usage = await mq([...global, "frobnicate"]);
  assert.equal(usage.code, 2, usage.stdout);
  const bench = await mq([...global, "bench", "--messages", "300", "--concurrency", "8"]);
  assert.equal(bench.code, 0, bench.stderr);
  const figures = jsonLines(bench.stdout)[0] as Record<
    string,
    Record<string, { messages: number }>
  >;
  for (const transport of ["http", "stream"]) {
    assert.equal(figures[transport].publish.messages, 300, bench.stdout);
    assert.equal(figures[transport].consume.messages, 300, bench.stdout);
  }
}

Deno.test("e2e client: the mq CLI and the shop example against a real node", async (t) => {
  const nodes = await Nodes.start({ count: 1 });
  const url = nodes.url("n1");
  try {
    await t.step("mq create, publish (args and stdin), consume, status --json", async () => {
      const g = ["--nodes", url, "--json"];
      const created = await mq([...g, "create", "cli", "--mode", "at_least_once"]);
      assert.equal(created.code, 0, created.stderr);
      assert.equal((jsonLines(created.stdout)[0] as { name: string }).name, "cli");
      const one = await mq([...g, "publish", "cli", "--id", "c1", '{"n":1}']);
      assert.equal(one.code, 0, one.stderr);
      assert.equal((jsonLines(one.stdout)[0] as { id: string }).id, "c1");
      const many = await mq([...g, "publish", "cli"], "two\nthree\n");
      assert.equal(many.code, 0, many.stderr);
      const consumed = await mq([...g, "consume", "cli", "--count", "3", "--wait-ms", "500"]);
      assert.equal(consumed.code, 0, consumed.stderr);
      const bodies = jsonLines(consumed.stdout).map((l) => (l as { body: unknown }).body);
      assert.deepEqual(bodies, [{ n: 1 }, "two", "three"]);
      const status = await mq([...g, "status"]);
      assert.equal(status.code, 0, status.stderr);
      const view = jsonLines(status.stdout)[0] as { leaderId: string };
      assert.equal(view.leaderId, "n1", status.stdout);
      const q = await new Client({ nodes: [url] }).getQueue("cli");
      assert.deepEqual({ published: q.published, acked: q.acked }, { published: 3, acked: 3 });
      const missing = await mq([...g, "publish", "nope", "x"]);
      assert.equal(missing.code, 1, missing.stdout);
      assert.match(missing.stderr, /queue_not_found/);
      await usageAndBench(g);
    });

    await t.step("shop: fulfillment worker + 20 demo orders = 20 parcels, once each", async () => {
      const env = { NO_COLOR: "1", QUORUMQ_NODES: url };
      const worker = new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-net", "--allow-env", "examples/shop/fulfillment.ts"],
        cwd: ROOT,
        env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const workerOut = worker.output();
      try {
        const demo = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--allow-net",
            "--allow-env",
            "examples/shop/publish_orders.ts",
            "--demo",
            "20",
          ],
          cwd: ROOT,
          env,
        }).output();
        assert.equal(demo.code, 0, new TextDecoder().decode(demo.stderr));
        const client = new Client({ nodes: [url] });
        const orders = await eventually("20 orders fulfilled", async () => {
          const q = await client.getQueue("new-orders");
          return q.acked === 20 ? q : undefined;
        }, 30_000);
        assert.equal(orders.published, 20);
        const shipping = await client.getQueue("shipping");
        assert.equal(shipping.ready, 20, JSON.stringify(shipping));
        const parcels = await client.receive("shipping", { max: 100 });
        const orderIds = new Set(parcels.map((p) => (p.body as { orderId: string }).orderId));
        assert.equal(orderIds.size, 20);
      } finally {
        worker.kill("SIGINT");
      }
      const out = await workerOut;
      const stdout = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.match(stdout, /stopped: /);
      assert.equal(stdout.match(/^packing /gm)?.length, 20, stdout);
    });
  } finally {
    await nodes.stop();
  }
});
