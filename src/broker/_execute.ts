/**
 * Command execution: one function per op, dispatched by an exhaustive switch. Each checks its
 * input (a refusal is a `Failure` value, never a throw) and then mutates the state.
 * Folder-private.
 *
 * @module
 */

import type { Command, QueueOptions, Result } from "./commands.ts";
import { Channel } from "./_channel.ts";
import type { BrokerState } from "./state.ts";
import { resolveQueueConfig } from "./_config.ts";
import { findSubscription, queueNotFound } from "./_lookup.ts";
import { queuePublishOne } from "./_publish.ts";
import {
  checkBatch,
  checkInt,
  checkMessage,
  checkName,
  checkQueueOptions,
  checkReceipts,
  DURATION_MS_MAX,
  invalid,
  RECEIVE_MAX,
  UNANSWERED,
} from "./validate.ts";
import { executeTopicCommand, type TopicCommand } from "./_execute_topic.ts";
import { executeTransaction } from "./_transaction.ts";
import { executePurge, executeRedrive } from "./_admin.ts";
import { executeClaimCommand } from "./_execute_claims.ts";

/**
 * Executes one command at entry time `now` (timed events up to `now` already ran). Without
 * `answers` the commands that answer per message (publishes, receives, settles) change the state
 * the same but answer `UNANSWERED`: nobody reads the answer (see `BrokerState.applyEntry`).
 */
export function executeCommand(
  state: BrokerState,
  index: number,
  cmd: Command,
  now: number,
  answers = true,
): Result {
  if (typeof cmd !== "object" || cmd === null) return invalid("the command must be an object");
  switch (cmd.op) {
    case "queue_put":
    case "queue_update":
      return putQueue(state, cmd.queue, cmd.options, cmd.op === "queue_update");
    case "queue_delete": {
      const q = state.queues.get(cmd.queue);
      if (q === undefined) return queueNotFound(cmd.queue);
      state.queues.delete(cmd.queue);
      state.byOrd.delete(q.ord);
      return { ok: true };
    }
    case "publish": {
      const q = state.queues.get(cmd.queue);
      if (q === undefined) return queueNotFound(cmd.queue);
      const e = checkMessage(cmd.message);
      if (e) return invalid(e);
      return queuePublishOne(state, q, cmd.message, now, answers);
    }
    case "publish_batch": {
      const q = state.queues.get(cmd.queue);
      if (q === undefined) return queueNotFound(cmd.queue);
      const e = checkBatch(cmd.messages);
      if (e) return invalid(e);
      if (!answers) {
        for (const m of cmd.messages) queuePublishOne(state, q, m, now, false);
        return UNANSWERED;
      }
      return { ok: true, results: cmd.messages.map((m) => queuePublishOne(state, q, m, now)) };
    }
    case "receive":
    case "ack":
    case "nack":
    case "extend":
      return consume(state.queues.get(cmd.queue), cmd, now, answers) ??
        queueNotFound(cmd.queue);
    case "subscription_receive":
    case "subscription_ack":
    case "subscription_nack":
    case "subscription_extend": {
      const s = findSubscription(state, cmd.topic, cmd.subscription);
      if (!(s instanceof Channel)) return s;
      return consume(s, cmd, now, answers)!;
    }
    case "topic_put":
    case "topic_delete":
    case "topic_publish":
    case "topic_publish_batch":
    case "subscription_put":
    case "subscription_delete":
      return executeTopicCommand(state, cmd as TopicCommand, now, answers);
    case "transaction":
      return executeTransaction(state, cmd, now);
    case "tick":
      tick(state, now);
      return { ok: true };
    case "session_open":
    case "session_keepalive":
    case "session_close":
    case "idempotency_release":
      // Applied by the exactly-once layer before this (they need the envelope's owner).
      return invalid(`${cmd.op} cannot be part of another command`);
    case "queue_purge":
      return executePurge(state, cmd.queue);
    case "queue_redrive":
      return executeRedrive(state, cmd.queue, cmd.seqs, now);
    case "claim_take":
    case "claim_release":
    case "claim_free":
    case "claim_settle":
      return executeClaimCommand(state, cmd, now);
    default:
      return invalid(`unknown op ${(cmd as { op: unknown }).op} at entry ${index}`);
  }
}

/** Forgets expired ids and idempotency keys everywhere (a tick is rare: this may be slow). */
function tick(state: BrokerState, now: number): void {
  state.idem.expire(now);
  for (const q of state.queues.values()) q.ids.expire(now);
  for (const t of state.topics.values()) {
    t.claims.pruneSlots(now);
    t.ids.expire(now);
    for (const s of t.subs.values()) s.ids.expire(now);
  }
}

function putQueue(
  state: BrokerState,
  name: string,
  options: QueueOptions,
  updateOnly: boolean,
): Result {
  const e = checkName("queue", name) ?? checkQueueOptions(options);
  if (e) return invalid(e);
  const q = state.queues.get(name);
  if (q === undefined) {
    if (updateOnly) return queueNotFound(name);
    const ord = state.nextOrd++;
    const created = new Channel(ord, name, resolveQueueConfig(options), state.host);
    state.queues.set(name, created);
    state.byOrd.set(ord, created);
    return { ok: true, created: true, config: created.config };
  }
  const config = resolveQueueConfig(updateOnly ? { ...q.config, ...options } : options);
  if (config.fifo !== q.config.fifo) return invalid("fifo cannot change after creation");
  q.config = config;
  return { ok: true, created: false, config };
}

type ConsumeCommand = Extract<
  Command,
  {
    op:
      | "receive"
      | "ack"
      | "nack"
      | "extend"
      | "subscription_receive"
      | "subscription_ack"
      | "subscription_nack"
      | "subscription_extend";
  }
>;

/**
 * receive / ack / nack / extend on a queue or subscription; undefined when it is missing.
 * Without `answers`, `UNANSWERED` once the input is checked.
 */
function consume(
  ch: Channel | undefined,
  cmd: ConsumeCommand,
  now: number,
  answers: boolean,
): Result | undefined {
  if (ch === undefined) return undefined;
  switch (cmd.op) {
    case "receive":
    case "subscription_receive": {
      const e = checkInt("max", cmd.max, 1, RECEIVE_MAX) ??
        checkInt("leaseMs", cmd.leaseMs, 1, DURATION_MS_MAX);
      if (e || cmd.max === undefined) return invalid(e ?? "max is required");
      const messages = ch.receive(cmd.max, cmd.leaseMs ?? ch.config.leaseMs, now, answers);
      return answers ? { ok: true, messages } : UNANSWERED;
    }
    case "ack":
    case "subscription_ack": {
      const e = checkReceipts(cmd.receipts);
      if (e) return invalid(e);
      const results = ch.ack(cmd.receipts, now, answers);
      return answers ? { ok: true, results } : UNANSWERED;
    }
    case "nack":
    case "subscription_nack": {
      const e = checkReceipts(cmd.receipts) ?? checkInt("delayMs", cmd.delayMs, 0, DURATION_MS_MAX);
      if (e) return invalid(e);
      const results = ch.nack(cmd.receipts, cmd.delayMs ?? 0, now, answers);
      return answers ? { ok: true, results } : UNANSWERED;
    }
    case "extend":
    case "subscription_extend": {
      const e = checkReceipts(cmd.receipts) ??
        checkInt("leaseMs", cmd.leaseMs, 1, DURATION_MS_MAX);
      if (e || cmd.leaseMs === undefined) return invalid(e ?? "leaseMs is required");
      const results = ch.extend(cmd.receipts, cmd.leaseMs, now, answers);
      return answers ? { ok: true, results } : UNANSWERED;
    }
  }
}
