/**
 * The receive handler shared by queues and subscriptions, with long poll. Receive is a write (a
 * replicated command, so a new leader knows every lease).
 *
 * A receive proposed on an empty target is one Raft entry that every node writes and applies for
 * nothing, so a leader whose applied state has nothing deliverable for the target WAITS FIRST
 * (see `long_poll.ts`) and proposes only when the probe says something is deliverable (a publish
 * applied, a delay or lease ended, the target deleted: the receive then answers its 404). When
 * `waitMs` runs out first, the answer is the empty list, with no proposal (an empty receive
 * changes no state). After a proposal that got nothing (another receiver was first), it waits and
 * proposes again, until messages arrive or the deadline passes. Idle long polls thus cost no
 * entry (docs/http.md, "Writes, leaders and retries").
 *
 * The wait is on the leader only: a follower's applied state lags the leader's, so a follower
 * proposes at once, which forwards the whole request to the leader, and the leader waits.
 * A missing target never waits (the probe calls it deliverable): the proposal answers 404 as it
 * always did, after every entry before it, so a queue created a moment ago is seen.
 *
 * In a session or with an Idempotency-Key only ONE receive may be proposed (a second proposal
 * with the same session place or key would replay the first, empty answer), so the leader waits
 * first, then proposes once, also at the deadline (the answer is stored under the key).
 *
 * @module
 */

import type { Command, ConsumerTarget, Delivery } from "../broker/mod.ts";
import { validate } from "./body.ts";
import type { Answer, Outcome } from "./answer.ts";
import type { Call } from "./call.ts";
import type { AppDeps } from "./context.ts";
import { jsonAnswer, renderDeliveries } from "./render.ts";
import { runWrite } from "./write.ts";
import { ownerOf, sessionOf } from "./session.ts";
import type { WaitProbe } from "./long_poll.ts";
import { shuttingDown } from "./drain.ts";
import { receiveSchema } from "./schemas.ts";

/** Handles `POST .../receive` for `target`. */
export async function handleReceive(
  call: Call,
  deps: AppDeps,
  target: ConsumerTarget,
): Promise<Outcome> {
  const body = await call.body(deps.limits.maxBodyBytes);
  const req = validate(receiveSchema, body.json ?? {}, "body");
  const max = req.max ?? 1;
  const waitMs = req.waitMs ?? 0;
  const cmd: Command = "queue" in target
    ? { op: "receive", queue: target.queue, max, ...leaseOf(req.leaseMs) }
    : {
      op: "subscription_receive",
      topic: target.topic,
      subscription: target.subscription,
      max,
      ...leaseOf(req.leaseMs),
    };
  const deadlineMs = deps.nowMs() + waitMs;
  const key = "queue" in target ? `q/${target.queue}` : `s/${target.topic}/${target.subscription}`;
  const probe = probeOf(deps, target);
  const arrival = deps.longPoll.arrival();
  const signal = call.signal;
  const idemKey = call.header("idempotency-key");
  const session = sessionOf(call);
  const once = idemKey !== undefined || session !== undefined;
  const owner = ownerOf(call);
  const stored = () =>
    deps.node.broker().hasStoredAnswer?.({
      ...(idemKey !== undefined ? { idemKey } : {}),
      ...(session !== undefined ? { session } : {}),
      ...(owner !== undefined ? { owner } : {}),
    }) === true;
  // No await between this probe and the wait's own (which probes again and registers the waiter
  // in one synchronous step): a batch applied meanwhile cannot slip between them unseen.
  if (waitMs > 0 && leads(deps) && (once ? !stored() : !deliverableHere(deps, target))) {
    const end = await deps.longPoll.wait(key, probe, arrival, deadlineMs, signal);
    if (end === "closing") throw shuttingDown();
    if (!once && end !== "deliverable") return deliveries([], false);
  }
  // Bounded by the deadline: each round either returns or waits for an applied batch or a
  // delay/lease end that makes the target deliverable; a wait that hits the deadline returns.
  // The round cap guards against a probe that says "deliverable" while receive finds nothing.
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const out = await runWrite(call, deps, cmd, body, Math.max(0, deadlineMs - deps.nowMs()));
    if (out instanceof Response) return out;
    const messages = out.value.messages;
    if (messages.length > 0 || once || deps.nowMs() >= deadlineMs || signal.aborted) {
      return deliveries(messages, out.replayed);
    }
    const end = await deps.longPoll.wait(key, probe, arrival, deadlineMs, signal);
    if (end === "closing") throw shuttingDown();
    if (end !== "deliverable") return deliveries([], false);
  }
  deps.log.warn("long_poll_round_cap", { key, rounds: MAX_ROUNDS });
  return deliveries([], false);
}

/** A receive's answer, with the count of what it delivers. */
function deliveries(messages: readonly Delivery[], replayed: boolean): Answer {
  return { ...jsonAnswer(200, renderDeliveries(messages), replayed), delivered: messages.length };
}

/** Most receive proposals for one long-poll request. */
const MAX_ROUNDS = 1000;

function leaseOf(leaseMs: number | undefined): { leaseMs?: number } {
  return leaseMs === undefined ? {} : { leaseMs };
}

/** Whether this node leads now (`leaderToAsk` is cheap; the cluster view is built per call). */
function leads(deps: AppDeps): boolean {
  const node = deps.node;
  if (node.leaderToAsk !== undefined) return node.leaderToAsk() === undefined;
  return node.clusterView().leaderId === node.nodeId;
}

/**
 * Whether a receive proposed now may find something, by this node's applied state: a ready
 * message, a delay or lease ended by entry time, or a missing target (whose receive answers 404).
 */
function deliverableHere(deps: AppDeps, target: ConsumerTarget): boolean {
  const d = deps.node.broker().deliverability(target);
  if (d === undefined || d.deliverableNow) return true;
  return d.nextAt !== undefined && d.nextAt <= deps.node.entryTimeMs();
}

function probeOf(deps: AppDeps, target: ConsumerTarget): WaitProbe {
  return {
    check() {
      const broker = deps.node.broker();
      const d = broker.deliverability(target);
      // A deleted target: wake the waiters so their receive answers queue_not_found.
      if (d === undefined) return { deliverableNow: true, readyCount: Number.MAX_SAFE_INTEGER };
      // The replica's view is as of its last entry; a delay or lease that has ended since (by
      // this node's entry time, never its wall clock) makes a message deliverable once the next
      // entry's time reaches it.
      const now = deps.node.entryTimeMs();
      const deliverableNow = d.deliverableNow || (d.nextAt !== undefined && d.nextAt <= now);
      const nextIn = d.nextAt !== undefined ? { nextInMs: d.nextAt - now } : {};
      // The stats (how many to wake) only when something is deliverable: every applied batch
      // probes every waited-on target, and most of them stay empty.
      if (!deliverableNow) return { deliverableNow, ...nextIn, readyCount: 0 };
      const info = "queue" in target
        ? broker.queue(target.queue)
        : broker.subscription(target.topic, target.subscription);
      return { deliverableNow, ...nextIn, readyCount: Math.max(1, info?.stats.ready ?? 1) };
    },
  };
}
