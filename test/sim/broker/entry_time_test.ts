/**
 * Entry time (docs/reliability.md items 6 and 11): entry time must not follow the leader's wall clock. Three simulated nodes
 * (the real Raft core and the real broker) with a clock each; clients stamp what they propose
 * with the proposing node's `EntryClock`, as a real node does. A leader whose wall clock jumps
 * an hour forward must not end a lease early or forget an id; a new leader whose wall clock is
 * an hour behind must not stand time still.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { NodeId } from "../../../cluster/raft/mod.ts";
import {
  type Command,
  type Delivery,
  encodeEnvelope,
  type Result,
} from "../../../src/broker/mod.ts";
import { BrokerSimApp } from "./broker_app.ts";
import { MS_PER_STEP, SimClocks } from "../clocks.ts";
import { Prng } from "../prng.ts";
import { Sim } from "../core/run.ts";
import type { SimNode } from "../core/sim_node.ts";

const HOUR_MS = 3_600_000;
const LEASE_MS = 5_000;
const encoder = new TextEncoder();

/** A fault-free simulated cluster driven one command at a time. */
class Cluster {
  readonly #time = { step: 0 };
  readonly clocks: SimClocks;
  readonly sim: Sim;

  constructor(seed: number) {
    this.clocks = new SimClocks(() => this.#time.step, new Prng(seed));
    this.sim = new Sim({
      seed,
      nodes: 3,
      steps: 0,
      appFactory: (id) => new BrokerSimApp(this.clocks.sources(id)),
    });
  }

  steps(n: number): void {
    for (let i = 0; i < n; i++) {
      this.#time.step = this.sim.step;
      this.sim.runStep({ faults: false, proposeRate: 0 });
    }
    assert.deepEqual(this.sim.checker.violations, []);
  }

  /** Waits (bounded) until exactly one node leads. */
  leader(): SimNode {
    for (let i = 0; i < 500; i++) {
      const leaders = this.sim.leaders();
      if (leaders.length === 1) return leaders[0];
      this.steps(1);
    }
    throw new Error("no single leader within 500 steps");
  }

  /** Proposes `cmd` on the leader, stamped by its entry clock, and returns what it applied. */
  run(cmd: Command, idem?: { key: string; fingerprint: string }): Result {
    for (let attempt = 0; attempt < 20; attempt++) {
      const node = this.leader();
      const app = node.app as BrokerSimApp;
      const proposal = idem === undefined ? { cmd } : { cmd, idem };
      const r = node.raw.propose(encodeEnvelope(app.clock!.stamp(proposal)));
      if (!r.ok) {
        this.steps(1);
        continue;
      }
      for (let i = 0; i < 200; i++) {
        this.steps(1);
        const applied = app.results.get(r.index);
        if (applied === undefined) continue;
        if (applied.term === r.term) return applied.result!;
        break;
      }
    }
    throw new Error(`${cmd.op} did not apply within 20 attempts`);
  }

  publish(queue: string, id: string): { seq: number; duplicate: boolean } {
    const r = this.run({ op: "publish", queue, message: { id, body: encoder.encode(id) } });
    assert.ok(r.ok && "seq" in r, JSON.stringify(r));
    return { seq: r.seq, duplicate: r.duplicate };
  }

  receive(queue: string, max: number): readonly Delivery[] {
    const r = this.run({ op: "receive", queue, max });
    assert.ok(r.ok && "messages" in r, JSON.stringify(r));
    return r.messages;
  }

  /** The message's state on every node, once all have applied the same entries. */
  status(queue: string, id: string): string {
    const brokers = () => [...this.sim.nodes.values()].map((n) => (n.app as BrokerSimApp).broker);
    for (let i = 0; i < 100 && new Set(brokers().map((b) => b.lastIndex)).size > 1; i++) {
      this.steps(1);
    }
    const states = new Set(
      [...this.sim.nodes.values()].map((n) =>
        JSON.stringify((n.app as BrokerSimApp).broker.messageStatus(queue, id) ?? "forgotten")
      ),
    );
    assert.equal(states.size, 1, `replicas disagree: ${[...states]}`);
    return [...states][0];
  }

  transferTo(id: NodeId): void {
    for (let attempt = 0; attempt < 10 && this.leader().id !== id; attempt++) {
      this.sim.transferLeadership(this.leader(), id);
      for (let i = 0; i < 100 && this.sim.leaders()[0]?.id !== id; i++) this.steps(1);
    }
    assert.equal(this.leader().id, id);
  }
}

const setup = (c: Cluster) =>
  c.run({
    op: "queue_put",
    queue: "q",
    options: { leaseMs: LEASE_MS, dedupWindowMs: 10 * 60_000 },
  });

Deno.test("entry time: a leader whose wall clock jumps +1 h ends no lease early and forgets no id", () => {
  const c = new Cluster(11);
  setup(c);
  c.publish("q", "a");
  c.publish("q", "b");
  const held = c.receive("q", 2);
  assert.deepEqual(held.map((d) => d.id), ["a", "b"]);
  const key = { key: "k1", fingerprint: "f1" };
  const first = c.run(
    { op: "publish", queue: "q", message: { id: "c", body: new Uint8Array(1) } },
    key,
  );

  const leader = c.leader().id;
  c.clocks.jumpWall(leader, HOUR_MS);
  c.run({ op: "tick" });
  // 10 ms per step: far less than the 5 s lease and the 10 min dedup window have passed.
  assert.equal(
    c.status("q", "a"),
    JSON.stringify({ id: "a", seq: 1, state: "leased", attempt: 1 }),
  );
  assert.deepEqual(c.publish("q", "a"), { seq: 1, duplicate: true }, "id a forgotten");
  const acked = c.run({ op: "ack", queue: "q", receipts: [held[0].receipt] });
  assert.deepEqual(
    acked,
    { ok: true, results: [{ receipt: held[0].receipt, status: "acked" }] },
    "the lease of a ended early",
  );

  // A day later by the leader's wall clock: the Idempotency-Key (24 h) is still remembered.
  c.clocks.jumpWall(leader, 24 * HOUR_MS);
  const again = c.run(
    { op: "publish", queue: "q", message: { id: "c", body: new Uint8Array(1) } },
    key,
  );
  assert.deepEqual(again, { ...first, replayed: true });
  assert.equal(c.leader().id, leader, "the jumped node led throughout");

  // Entry time still moves with the leader's monotonic clock: b's lease ends after 5 s.
  c.steps(LEASE_MS / MS_PER_STEP + 10);
  const redelivered = c.receive("q", 3);
  assert.deepEqual(redelivered.map((d) => [d.id, d.attempt]), [["b", 2], ["c", 1]]);
});

Deno.test("entry time: a new leader whose wall clock is 1 h behind does not stand time still", () => {
  const c = new Cluster(12);
  setup(c);
  const old = c.leader().id;
  const next = [...c.sim.nodes.keys()].find((id) => id !== old)!;
  c.clocks.jumpWall(next, -HOUR_MS);
  c.publish("q", "a");
  assert.deepEqual(c.receive("q", 1).map((d) => [d.id, d.attempt]), [["a", 1]]);
  c.transferTo(next);
  c.publish("q", "b");
  // The lease of a ends 5 s after it was taken, by the new leader's count of time as well.
  c.steps(LEASE_MS / MS_PER_STEP + 10);
  const got = c.receive("q", 2);
  assert.deepEqual(got.map((d) => [d.id, d.attempt]), [["a", 2], ["b", 1]]);
  assert.equal(c.leader().id, next);
});
