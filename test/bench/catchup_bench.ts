/**
 * The cluster's promises at production scale: a large backlog, a node that must catch up from
 * nothing, and a full restart. Three real nodes on loopback with the deployed defaults (fsync on,
 * the default snapshot thresholds and timeouts, the launch commands' memory settings):
 *
 *     nice -n 5 deno task catchup-bench [--queue 1500000] [--topic 500000]
 *
 * 1. Backlog: `--queue` 256-byte messages in a queue and `--topic` in a topic with two durable
 *    subscriptions, published with ids through the client's stream in batches of `--batch` (50:
 *    enough entries that the leader snapshots and compacts its log, so a new node needs the
 *    snapshot).
 * 2. Catch-up: with a producer (`--in-flight` single publishes) and a consumer running, a follower
 *    is SIGKILLed, its data directory deleted, and it is replaced as docs/operations.md says
 *    (removed, started empty with `--join`, added): it must install the snapshot and the log and
 *    be promoted. Measured: the time to its promotion and readiness, publish p50/p99/max before
 *    and during, the leader's responsiveness (a `/healthz` probe every 100 ms: its worst answer,
 *    and answers over 1 s), elections, and each node's peak RSS. Then every node's counts (local
 *    reads) must agree.
 * 3. Full restart: all three SIGKILLed and restarted: time to the first acknowledged publish and
 *    until every node is ready, peak RSS.
 * 4. Drain: the queue and both subscriptions consumed to the end: every acknowledged id delivered,
 *    none twice.
 *
 * Exits 1 when a promise is broken (lost or duplicated ids, counts that differ, no catch-up).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes, sleep } from "../e2e/nodes.ts";
import { RssSampler } from "./_rss.ts";
import { consume, fill, IdLedger, latencySummary, newClient, Producer } from "./_backlog.ts";
import type { Client } from "../../src/client/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    queue: { type: "string", default: "1500000" },
    topic: { type: "string", default: "500000" },
    batch: { type: "string", default: "50" },
    lanes: { type: "string", default: "16" },
    "in-flight": { type: "string", default: "32" },
    // Seconds the producer and consumer run before the follower is killed, and after it is back.
    warm: { type: "string", default: "5" },
    // Where the nodes' logs go (each node's stderr), default a temp dir that is printed.
    logs: { type: "string" },
  },
});
const QUEUE_N = Number(values.queue);
const TOPIC_N = Number(values.topic);
const WARM_MS = Number(values.warm) * 1000;
const Q = "backlog", T = "events", SUBS = ["s1", "s2"];
const broken: string[] = [];

const clock = () => new Date().toISOString().slice(11, 23);
const say = (line: string) => console.log(`[${clock().slice(0, 8)}] ${line}`);

/** Every 100 ms, each live node's `/healthz` (its answer time) and cluster view (its term). */
class Probe {
  readonly latencies = new Map<string, number[]>();
  readonly terms = new Set<number>();
  /** Answers over 500 ms: node, time taken, when it came (to line up with the nodes' logs). */
  readonly slow: string[] = [];
  #timer: ReturnType<typeof setInterval>;
  constructor(nodes: Nodes) {
    this.#timer = setInterval(() => {
      for (const id of nodes.live()) {
        const t0 = performance.now();
        fetch(`${nodes.url(id)}/healthz`, { signal: AbortSignal.timeout(10_000) })
          .then(async (res) => {
            await res.body?.cancel();
            const list = this.latencies.get(id) ?? [];
            const ms = performance.now() - t0;
            list.push(ms);
            this.latencies.set(id, list);
            if (ms > 500) this.slow.push(`${id} ${ms.toFixed(0)} ms at ${clock()}`);
          }, () => {});
      }
      const any = nodes.live()[0];
      if (any !== undefined) nodes.cluster(any).then((v) => this.terms.add(v.term), () => {});
    }, 100);
  }
  report(id: string): string {
    const xs = this.latencies.get(id) ?? [];
    const slow = xs.filter((x) => x > 1000).length;
    return `${latencySummary(xs)}, answers over 1 s: ${slow}`;
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

async function ready(nodes: Nodes, id: string): Promise<boolean> {
  const res = await fetch(`${nodes.url(id)}/readyz`, { signal: AbortSignal.timeout(1000) })
    .catch(() => null);
  await res?.body?.cancel();
  return res?.status === 200;
}

async function waitFor(what: string, ms: number, check: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await check().catch(() => false)) return Date.now() - t0;
    await sleep(100);
  }
  broken.push(`${what}: not within ${ms / 1000} s`);
  return NaN;
}

async function buildBacklog(client: Client, ledgers: Record<string, IdLedger[]>): Promise<void> {
  await client.createQueue(Q);
  await client.topics.create(T);
  for (const s of SUBS) await client.subscriptions.create(T, s);
  const t0 = Date.now();
  const done = [0, 0];
  let shown = 0;
  const opts = (i: number) => ({
    batch: Number(values.batch),
    lanes: Math.max(1, Number(values.lanes) / 2),
    progress: (d: number) => {
      done[i] = d;
      if (done[0] + done[1] - shown >= 250_000) {
        say(`backlog: ${shown = done[0] + done[1]} published`);
      }
    },
  });
  await Promise.all([
    fill(client, { queue: Q }, ledgers.q, QUEUE_N, opts(0)),
    fill(client, { topic: T }, ledgers.t, TOPIC_N, opts(1)),
  ]);
  const s = (Date.now() - t0) / 1000;
  say(
    `backlog of ${QUEUE_N + TOPIC_N} built in ${s.toFixed(0)} s (${
      ((QUEUE_N + TOPIC_N) / s).toFixed(0)
    } msgs/s)`,
  );
}

/** Replaces follower `f` with an empty one under the same id, as docs/operations.md says. */
async function replaceFollower(nodes: Nodes, admin: Client, f: string): Promise<void> {
  await nodes.kill(f);
  await nodes.wipe(f);
  const t0 = Date.now();
  await admin.cluster.removeMember(f);
  say(`${f} killed, wiped and removed (${Date.now() - t0} ms)`);
  nodes.rejoin(f);
  nodes.spawn(f);
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      await admin.cluster.addMember({ id: f, url: nodes.url(f) });
      return;
    } catch (e) {
      if (attempt % 10 === 0) say(`add ${f}: ${(e as Error).message.slice(0, 120)}; retrying`);
      await sleep(500);
    }
  }
  broken.push(`${f} could not be added again`);
}

async function isVoter(nodes: Nodes, leader: string, f: string): Promise<boolean> {
  const v = await nodes.cluster(leader, 2000);
  // deno-lint-ignore no-explicit-any
  const m = v.members.find((x: any) => x.id === f);
  return m !== undefined && m.role !== "learner";
}

async function catchUp(nodes: Nodes, rss: RssSampler, ledgers: Record<string, IdLedger[]>) {
  const leader = await nodes.waitLeader();
  const f = nodes.ids.find((id) => id !== leader)!;
  const producerClient = newClient(nodes.urls()), consumerClient = newClient(nodes.urls());
  const admin = newClient([nodes.url(leader)]);
  const probe = new Probe(nodes);
  const producer = new Producer(producerClient, Q, ledgers.p[0], Number(values["in-flight"]), 2e6);
  let stopConsumer = false;
  const consumer = consume(consumerClient, Q, [...ledgers.q, ...ledgers.p], {
    max: 100,
    stop: () => stopConsumer,
  });
  await sleep(WARM_MS);
  const before = producer.latenciesMs.length;
  say(`before: publish ${latencySummary(producer.latenciesMs)}; leader ${leader}, replacing ${f}`);
  const t0 = Date.now();
  await replaceFollower(nodes, admin, f);
  await waitFor(`${f} promoted`, 600_000, () => isVoter(nodes, leader, f));
  const voterS = (Date.now() - t0) / 1000;
  await waitFor(`${f} ready`, 600_000, () => ready(nodes, f));
  const t1 = Date.now();
  say(
    `${f} a voter ${voterS.toFixed(1)} s and ready ${
      ((t1 - t0) / 1000).toFixed(1)
    } s after the kill`,
  );
  const during = producer.latenciesMs.slice(before);
  await sleep(WARM_MS);
  await producer.stop();
  stopConsumer = true;
  const consumed = await consumer;
  probe.stop();
  say(`during the catch-up: publish ${latencySummary(during)}; failures ${producer.failures}`);
  say(`the slowest publishes (latency, answered at): ${producer.slowest(before, 5)}`);
  say(
    `published ${producer.count} and consumed ${consumed} while it ran; terms seen ${
      [...probe.terms].join(",")
    }`,
  );
  for (const id of nodes.ids) {
    say(
      `${id}${id === leader ? " (leader)" : id === f ? " (replaced)" : ""}: /healthz ${
        probe.report(id)
      }; peak RSS ${rss.peak(id, t0, t1).toFixed(0)} MB`,
    );
  }
  say(`/healthz answers over 500 ms: ${probe.slow.join(", ") || "none"}`);
  if (probe.terms.size > 1) broken.push(`elections during the catch-up: terms ${[...probe.terms]}`);
  await Promise.all([producerClient.close(), consumerClient.close(), admin.close()]);
  return { leader, f };
}

/** Every node's local counts of the queue and subscriptions, once they agree (or a break). */
async function compareCounts(nodes: Nodes): Promise<void> {
  const paths = [`/v1/queues/${Q}`, ...SUBS.map((s) => `/v1/topics/${T}/subscriptions/${s}`)];
  let last = "";
  const ms = await waitFor("counts agree on every node", 120_000, async () => {
    const views = await Promise.all(nodes.ids.map(async (id) => {
      const parts = await Promise.all(paths.map(async (p) => {
        const j = await (await fetch(`${nodes.url(id)}${p}?consistency=stale`)).json();
        return `${j.ready}/${j.leased}/${j.published}/${j.acked}`;
      }));
      return parts.join(" ");
    }));
    last = views.join(" | ");
    return views.every((v) => v === views[0]);
  });
  say(
    `counts (ready/leased/published/acked of the queue, s1, s2) on n1 | n2 | n3 after ${ms} ms: ${last}`,
  );
}

async function fullRestart(nodes: Nodes, rss: RssSampler, ledger: IdLedger): Promise<void> {
  await Promise.all(nodes.ids.map((id) => nodes.kill(id)));
  const t0 = Date.now();
  for (const id of nodes.ids) nodes.spawn(id);
  const client = newClient(nodes.urls());
  let firstMs = NaN;
  const first = (async () => {
    for (let n = 0; n < 1000 && Number.isNaN(firstMs); n++) {
      try {
        await client.publish(Q, { id: `${ledger.prefix}0`, body: "after the restart" });
        ledger.published(0);
        firstMs = Date.now() - t0;
      } catch { /* not yet: the client's retries ran out */ }
    }
  })();
  await waitFor(
    "every node ready after the full restart",
    600_000,
    async () => (await Promise.all(nodes.ids.map((id) => ready(nodes, id)))).every((r) => r),
  );
  await first;
  const allMs = Date.now() - t0;
  await client.close();
  say(
    `full restart: first publish acknowledged after ${
      (firstMs / 1000).toFixed(1)
    } s, every node ready after ${(allMs / 1000).toFixed(1)} s; peak RSS ${
      nodes.ids.map((id) => `${id} ${rss.peak(id, t0, Date.now()).toFixed(0)}`).join(", ")
    } MB`,
  );
}

async function drain(nodes: Nodes, ledgers: Record<string, IdLedger[]>): Promise<void> {
  const clients = [0, 1, 2].map(() => newClient(nodes.urls()));
  const t0 = Date.now();
  const [q, s1, s2] = await Promise.all([
    consume(clients[0], Q, [...ledgers.q, ...ledgers.p, ...ledgers.r], {
      max: 1000,
      stop: () => false,
      untilEmpty: true,
    }),
    ...SUBS.map((s, i) =>
      consume(clients[i + 1], { topic: T, subscription: s }, [ledgers.t[i]], {
        max: 1000,
        stop: () => false,
        untilEmpty: true,
      })
    ),
  ]);
  say(
    `drained ${q} from the queue, ${s1} and ${s2} from the subscriptions in ${
      ((Date.now() - t0) / 1000).toFixed(0)
    } s`,
  );
  await Promise.all(clients.map((c) => c.close()));
  for (const l of [...ledgers.q, ...ledgers.p, ...ledgers.r, ...ledgers.t]) {
    const v = l.verdict();
    say(`ids ${l.prefix}*: ${JSON.stringify(v)}`);
    if (v.lost > 0 || v.dup > 0) {
      broken.push(`ids ${l.prefix}*: ${v.lost} lost, ${v.dup} duplicated`);
    }
  }
}

async function main(): Promise<void> {
  const logDir = values.logs ?? await Deno.makeTempDir({ prefix: "quorumq-catchup-logs-" });
  say(`nodes' logs in ${logDir}`);
  const nodes = await Nodes.start({ count: 3, logDir, keepLogs: false });
  const rss = new RssSampler(nodes);
  // Interrupted: the nodes go, with their data (gigabytes), not left behind.
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => void nodes.stop().finally(() => Deno.exit(130)));
  }
  const ledgers = {
    q: [new IdLedger("q", QUEUE_N)],
    t: SUBS.map(() => new IdLedger("t", TOPIC_N)),
    p: [new IdLedger("p", 2e6)],
    r: [new IdLedger("r", 1)],
  };
  try {
    const client = newClient(nodes.urls());
    const t0 = Date.now();
    await buildBacklog(client, ledgers);
    await client.close();
    say(
      `peak RSS while building: ${
        nodes.ids.map((id) => `${id} ${rss.peak(id, t0, Date.now()).toFixed(0)}`).join(", ")
      } MB`,
    );
    await catchUp(nodes, rss, ledgers);
    await compareCounts(nodes);
    await fullRestart(nodes, rss, ledgers.r[0]);
    await compareCounts(nodes);
    await drain(nodes, ledgers);
  } finally {
    rss.stop();
    await nodes.stop();
  }
  say(broken.length === 0 ? "every promise kept" : `BROKEN:\n  ${broken.join("\n  ")}`);
  // The clients' sockets to the killed nodes may hold the event loop a while: exit now.
  Deno.exit(broken.length > 0 ? 1 : 0);
}

await main();
