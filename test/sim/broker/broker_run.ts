/**
 * One seed of the broker simulation: the harness's cluster (faults, crashes, partitions, disk
 * loss, snapshots) with `BrokerSimApp` on every node and `BrokerClient` as the only client.
 * After the faulty phase, faults stop, the client finishes its retries and drains every queue,
 * and the broker checks run. Replica-state equality at every applied index is checked by the
 * harness itself through the app digest.
 *
 * @module
 */

import { SessionLedger } from "./session_ledger.ts";
import { BrokerSimApp } from "./broker_app.ts";
import { BrokerClient, type ClientFaults, QUEUES, ROUTES } from "./broker_workload.ts";
import { SimClocks } from "../clocks.ts";
import { Prng } from "../prng.ts";
import { Sim } from "../core/run.ts";
import type { SimNode } from "../core/sim_node.ts";

export interface BrokerRunOptions {
  readonly seed: number;
  readonly nodes: 3 | 5;
  readonly steps: number;
  readonly clientFaults?: ClientFaults;
  /**
   * Per step, the chance that one node's wall clock steps an hour forward or back (the leader's
   * half the time). Entry time must not follow: no lease may end early, no id be forgotten,
   * and time must not stand still under a leader whose clock is behind.
   */
  readonly wallClockJumps?: number;
  /** Broken on purpose: the replicas ignore sessions, so retries apply again (must be caught). */
  readonly ignoreSessions?: boolean;
}

export interface BrokerRunResult {
  readonly seed: number;
  readonly violations: readonly string[];
  readonly stats: Record<string, number>;
}

/**
 * Quiet steps allowed for retries and the drain. Generous: with 16-byte snapshot chunks a
 * follower needs ~2 steps per chunk, and a broker snapshot of ~150 messages is ~15 KB, so
 * catching a lagging majority up can take a few thousand steps (seed 1069, 800 steps).
 */
const DRAIN_STEPS_MAX = 10_000;

/** Runs one seed and returns what the checks found. */
export function runBrokerSeed(opts: BrokerRunOptions): BrokerRunResult {
  const time = { step: 0 };
  const ledger = new SessionLedger();
  const clockPrng = new Prng(opts.seed * 104_729 + 3);
  const clocks = new SimClocks(() => time.step, clockPrng.fork());
  // Each node's entry clock asks whether it leads, as a real node's does (`driver.leading` in
  // src/server/start.ts): a follower counts from the entries it applies (FINDINGS 20).
  const made: { sim?: Sim } = {};
  const leading = (id: string) => made.sim?.nodes.get(id)?.raw.status().role === "leader";
  const sim = new Sim({
    seed: opts.seed,
    nodes: opts.nodes,
    steps: opts.steps,
    appFactory: (id) =>
      new BrokerSimApp({ ...clocks.sources(id), leading: () => leading(id) }, {
        ledger,
        ignoreSessions: opts.ignoreSessions,
        answerOwnOnly: true,
      }),
  });
  made.sim = sim;
  const client = new BrokerClient(new Prng(opts.seed * 7919 + 17), opts.clientFaults);
  const violations: string[] = [];
  let jumps = 0;
  const step = (faults: boolean, rate: number) => {
    time.step = sim.step;
    if (faults && clockPrng.chance(opts.wallClockJumps ?? 0)) {
      jumpOneWallClock(sim, clocks, clockPrng);
      jumps++;
    }
    client.act(sim.step, sim.nodes, rate);
    sim.runStep({ faults, proposeRate: 0 });
    client.observe(sim.step, sim.nodes);
  };
  try {
    while (sim.step < opts.steps && sim.checker.violations.length === 0) step(true, 0.5);
    sim.nemesis.stop();
    sim.pausedUntil.clear();
    drainAll(sim, client, step);
  } catch (e) {
    violations.push(`exception at step ${sim.step}: ${(e as Error).stack}`);
  }
  for (const v of sim.checker.violations) {
    violations.push(`${v.invariant} at step ${v.step}: ${v.message}`);
  }
  violations.push(...ledger.violations());
  if (violations.length === 0) violations.push(...checkBroker(sim, client));
  return {
    seed: opts.seed,
    violations,
    stats: {
      ...client.stats,
      acknowledged: client.acknowledged.size,
      deliveries: client.seen.length,
      routedDeliveries: client.seen.filter((s) => s.queue.includes("/")).length,
      acks: client.ackAnswers.length,
      wallClockJumps: jumps,
      sessionWrites: ledger.applied.size,
    },
  };
}

/** Steps one node's wall clock an hour forward or back: the leader's half the time. */
function jumpOneWallClock(sim: Sim, clocks: SimClocks, prng: Prng): void {
  const leader = sim.leaders()[0];
  const id = leader !== undefined && prng.chance(0.5)
    ? leader.id
    : prng.pick([...sim.nodes.keys()]);
  const ms = prng.pick([3_600_000, -3_600_000]);
  clocks.jumpWall(id, ms);
  sim.trace(`${id} wall clock jumps ${ms > 0 ? "+" : ""}${ms} ms`);
}

function leaderApp(sim: Sim): BrokerSimApp | undefined {
  const l = sim.leaders()[0] as SimNode | undefined;
  return l?.app as BrokerSimApp | undefined;
}

/** Stored messages left in every queue, per the leader. */
function backlog(app: BrokerSimApp): number {
  let n = 0;
  for (const q of QUEUES) {
    const s = app.broker.queue(q)?.stats;
    if (s !== undefined) n += s.ready + s.leased + s.delayed;
  }
  for (const source of Object.keys(ROUTES)) {
    const [topic, name] = source.split("/");
    const s = app.broker.subscription(topic, name)?.stats;
    if (s !== undefined) n += s.ready + s.leased + s.delayed;
  }
  return n;
}

function drainAll(
  sim: Sim,
  client: BrokerClient,
  step: (faults: boolean, rate: number) => void,
): void {
  const start = sim.step;
  while (sim.step - start < DRAIN_STEPS_MAX && sim.checker.violations.length === 0) {
    step(false, 0);
    if (!client.idle()) continue;
    const app = leaderApp(sim);
    if (app !== undefined && app.broker.queue("jobs") !== undefined && backlog(app) === 0) return;
    client.drain();
  }
  sim.checker.fail("liveness", `the broker did not drain within ${DRAIN_STEPS_MAX} quiet steps`);
}

/** The broker promises, checked against everything the client was told. */
export function checkBroker(sim: Sim, client: BrokerClient): string[] {
  const out: string[] = [];
  // docs/design.md promise 1: every publish answered ok was delivered (the broker drained to
  // empty).
  const delivered = new Set(client.seen.map((s) => s.logical));
  for (const [logical, where] of client.acknowledged) {
    if (client.routed.has(logical)) continue; // a topic publish: checkRouting says where it goes
    if (!delivered.has(logical)) out.push(`lost: ${logical} acknowledged in ${where.queue}`);
  }
  // docs/design.md promise 2: one logical message has one seq per queue (never enqueued twice).
  const seqOf = new Map<string, number>();
  for (const s of client.seen) {
    const key = `${s.queue}/${s.logical}`;
    const prev = seqOf.get(key);
    if (prev !== undefined && prev !== s.d.seq) {
      out.push(`duplicate: ${key} enqueued as seq ${prev} and ${s.d.seq}`);
    }
    seqOf.set(key, s.d.seq);
  }
  // docs/design.md promise 4: in exactly_once, one `acked` answer per id (replays of a stored
  // answer are not counted: they are the same answer, not another ack).
  const ackedAt = new Map<string, number[]>();
  for (const a of client.ackAnswers) {
    if (a.queue !== "eo" || a.status !== "acked") continue;
    ackedAt.set(a.logical, [...ackedAt.get(a.logical) ?? [], a.index]);
  }
  for (const [logical, idx] of ackedAt) {
    if (idx.length > 1) out.push(`exactly_once: ${logical} answered acked at entries ${idx}`);
  }
  out.push(...checkOrder(client), ...checkNoDeliveryAfterAck(client), ...checkRouting(client));
  const app = leaderApp(sim);
  if (app === undefined) out.push("no leader at the end");
  return out;
}

/**
 * Routing by subject: every acknowledged topic publish reached each subscription that matches it
 * (the broker drained to empty), and no subscription got one it does not match.
 */
function checkRouting(client: BrokerClient): string[] {
  const out: string[] = [];
  const got = new Set(client.seen.map((s) => `${s.queue}/${s.logical}`));
  for (const [logical, { subject, h }] of client.routed) {
    for (const [source, wants] of Object.entries(ROUTES)) {
      const seen = got.has(`${source}/${logical}`);
      if (seen && !wants(subject, h)) out.push(`misrouted: ${logical} (${subject}) to ${source}`);
      if (!seen && wants(subject, h) && client.acknowledged.has(logical)) {
        out.push(`lost: ${logical} (${subject}) never reached ${source}`);
      }
    }
  }
  return out;
}

/** docs/design.md promise 5: in the fifo queue, each group's deliveries go in seq order. */
function checkOrder(client: BrokerClient): string[] {
  const out: string[] = [];
  const last = new Map<string, number>();
  const sorted = client.seen.filter((s) => s.queue === "fifo").sort((a, b) => a.index - b.index);
  for (const s of sorted) {
    const g = s.d.group ?? "";
    const prev = last.get(g) ?? 0;
    if (s.d.seq < prev) out.push(`order: fifo group ${g} delivered seq ${s.d.seq} after ${prev}`);
    last.set(g, s.d.seq);
  }
  return out;
}

/** docs/design.md promise 3: a message answered `acked` is never delivered again. */
function checkNoDeliveryAfterAck(client: BrokerClient): string[] {
  const out: string[] = [];
  const ackedAt = new Map<string, number>();
  for (const a of client.ackAnswers) {
    if (a.status !== "acked") continue;
    const key = `${a.queue}/${a.seq}`;
    ackedAt.set(key, Math.min(ackedAt.get(key) ?? Infinity, a.index));
  }
  for (const s of client.seen) {
    const at = ackedAt.get(`${s.queue}/${s.d.seq}`);
    if (at !== undefined && s.index > at) {
      out.push(
        `redelivered after ack: ${s.queue} seq ${s.d.seq} acked at ${at}, delivered at ${s.index}`,
      );
    }
  }
  return out;
}
