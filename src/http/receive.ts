/**
 * The receive handler shared by queues and subscriptions, with long poll. Receive is a write (a
 * replicated command, so a new leader knows every lease).
 *
 * Without an Idempotency-Key: propose; if nothing came back and `waitMs` is left, wait (see
 * `long_poll.ts`) and propose again, until messages arrive or the deadline passes.
 * In a session or with an Idempotency-Key only ONE receive may be proposed (a second proposal
 * with the same session place or key would replay the first, empty answer), so the leader waits
 * first, then proposes once.
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
  if (once && waitMs > 0 && isLeader(deps) && !stored()) {
    const end = await deps.longPoll.wait(key, probe, arrival, deadlineMs, signal);
    if (end === "closing") throw shuttingDown();
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

function isLeader(deps: AppDeps): boolean {
  return deps.node.clusterView().leaderId === deps.node.nodeId;
}

function probeOf(deps: AppDeps, target: ConsumerTarget): WaitProbe {
  return {
    check() {
      const broker = deps.node.broker();
      const d = broker.deliverability(target);
      const info = "queue" in target
        ? broker.queue(target.queue)
        : broker.subscription(target.topic, target.subscription);
      // A deleted target: wake the waiters so their receive answers queue_not_found.
      if (d === undefined || info === undefined) {
        return { deliverableNow: true, readyCount: Number.MAX_SAFE_INTEGER };
      }
      // The replica's view is as of its last entry; a delay or lease that has ended since (by
      // this node's entry time, never its wall clock) makes a message deliverable once the next
      // entry's time reaches it.
      const now = deps.node.entryTimeMs();
      const deliverableNow = d.deliverableNow || (d.nextAt !== undefined && d.nextAt <= now);
      return {
        deliverableNow,
        ...(d.nextAt !== undefined ? { nextInMs: d.nextAt - now } : {}),
        readyCount: Math.max(1, info.stats.ready),
      };
    },
  };
}
