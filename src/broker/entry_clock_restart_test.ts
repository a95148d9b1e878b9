/**
 * Entry time across a leader change after a restart (test/sim/FINDINGS.md, 20). A leader that
 * restarted counts from the last entry time in its log: the time it was down is not counted. A
 * follower that kept running counted it. Leading later, that follower must carry on the entries'
 * time (the restarted leader's), not its own count: else entry time jumps ahead by the downtime,
 * and every lease, delay, dedup window and key the restarted leader granted ends early.
 */

import assert from "node:assert/strict";
import { BrokerState } from "./state.ts";
import { EntryClock } from "./entry_clock.ts";
import type { Envelope, Result } from "./commands.ts";
import { body } from "./_testing.ts";

const HOUR = 3_600_000;

/** A node: its replica, its monotonic clock (set by the test), whether it leads, its clock. */
class TestNode {
  readonly broker = new BrokerState();
  leads = false;
  #index = 0;
  readonly clock: EntryClock;

  constructor(public mono: number) {
    this.clock = new EntryClock({
      monoNowMs: () => this.mono,
      wallNowMs: () => 1_000_000,
      lastEntryTs: () => this.broker.lastTs,
      leading: () => this.leads,
    });
  }

  apply(e: Envelope): Result {
    const r = this.broker.apply(++this.#index, e);
    this.clock.observe();
    return r;
  }
}

/** The leader stamps `cmd`, every node applies it; the entry and the leader's result. */
function commit(leader: TestNode, nodes: TestNode[], cmd: Envelope["cmd"]) {
  const e = leader.clock.stamp({ cmd });
  let result: Result | undefined;
  for (const n of nodes) {
    const r = n.apply(e);
    if (n === leader) result = r;
  }
  return { e, result: result! };
}

Deno.test("a follower that counted a leader's downtime leads on the entries' time", () => {
  const a = new TestNode(0), c = new TestNode(0);
  a.leads = true;
  const log = [
    commit(a, [a, c], { op: "queue_put", queue: "q", options: { leaseMs: 30_000 } }).e,
    commit(a, [a, c], { op: "publish", queue: "q", message: { body: body("x"), id: "m" } }).e,
  ];
  // a (with another node, a majority) is down an hour; c runs all along, without a quorum. a
  // restarts, replays its log, and counts on from the last entry time in it.
  c.mono += HOUR;
  const restarted = new TestNode(c.mono);
  for (const e of log) restarted.apply(e);
  restarted.leads = true;
  restarted.mono += 2_000;
  const got = commit(restarted, [restarted, c], { op: "receive", queue: "q", max: 1 }).result;
  assert.ok(got.ok && "messages" in got && got.messages.length === 1);
  // 5 s into the 30 s lease, leadership moves to c.
  restarted.leads = false;
  restarted.mono += 5_000;
  c.mono += 5_000;
  c.leads = true;
  commit(c, [restarted, c], { op: "tick" });
  assert.equal(c.broker.queue("q")?.stats.leased, 1, "the lease ended 25 s early");
  const since = c.broker.lastTs - log[log.length - 1].ts;
  assert.ok(since <= 7_000, `entry time moved ${since} ms in 7 s`);
});
