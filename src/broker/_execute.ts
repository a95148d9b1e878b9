/**
 * Command execution: one function per op, dispatched by an exhaustive switch. Each checks its
 * input (a refusal is a `Failure` value, never a throw) and then mutates the state.
 * Folder-private.
 *
 * @module
 */

import type {
  Command,
  Failure,
  MessageInput,
  PublishOutcome,
  QueueConfig,
  QueueOptions,
  Result,
} from "./commands.ts";
import { Channel } from "./_channel.ts";
import { type BrokerState, storeMessage } from "./state.ts";
import {
  checkInt,
  checkMessage,
  checkName,
  checkQueueOptions,
  checkReceipts,
  DURATION_MS_MAX,
  invalid,
  RECEIVE_MAX,
} from "./validate.ts";
import {
  executeTopicCommand,
  findSubscription,
  type TopicCommand,
  topicPublishOne,
} from "./_execute_topic.ts";
import { executeTransaction } from "./_transaction.ts";

/** Defaults of a queue (and a subscription's delivery). */
export const QUEUE_DEFAULTS = {
  deliveryMode: "at_least_once",
  leaseMs: 30_000,
  dedupWindowMs: 300_000,
  fifo: false,
} as const;

/** Fills in defaults; leaves out options that are absent, so configs compare and encode cleanly. */
export function resolveQueueConfig(o: QueueOptions): QueueConfig {
  const c: {
    -readonly [K in keyof QueueConfig]: QueueConfig[K];
  } = {
    deliveryMode: o.deliveryMode ?? QUEUE_DEFAULTS.deliveryMode,
    leaseMs: o.leaseMs ?? QUEUE_DEFAULTS.leaseMs,
    dedupWindowMs: o.dedupWindowMs ?? QUEUE_DEFAULTS.dedupWindowMs,
    fifo: o.fifo ?? QUEUE_DEFAULTS.fifo,
  };
  if (o.maxDeliveries !== undefined) c.maxDeliveries = o.maxDeliveries;
  if (o.deadLetterQueue !== undefined) c.deadLetterQueue = o.deadLetterQueue;
  if (o.maxMessages !== undefined) c.maxMessages = o.maxMessages;
  if (o.maxBytes !== undefined) c.maxBytes = o.maxBytes;
  if (o.messageTtlMs !== undefined) c.messageTtlMs = o.messageTtlMs;
  return c;
}

export function queueNotFound(name: string): Failure {
  return { ok: false, reason: "queue_not_found", detail: `Queue ${name} does not exist` };
}

/** Executes one command at entry time `now` (timed events up to `now` already ran). */
export function executeCommand(
  state: BrokerState,
  index: number,
  cmd: Command,
  now: number,
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
      const r = queuePublishOne(state, q, cmd.message, now);
      return r;
    }
    case "publish_batch": {
      const q = state.queues.get(cmd.queue);
      if (q === undefined) return queueNotFound(cmd.queue);
      const e = checkBatch(cmd.messages);
      if (e) return invalid(e);
      return { ok: true, results: cmd.messages.map((m) => queuePublishOne(state, q, m, now)) };
    }
    case "receive":
    case "ack":
    case "nack":
    case "extend":
      return consume(state, state.queues.get(cmd.queue), cmd, now) ??
        queueNotFound(cmd.queue);
    case "subscription_receive":
    case "subscription_ack":
    case "subscription_nack":
    case "subscription_extend": {
      const s = findSubscription(state, cmd.topic, cmd.subscription);
      if (!(s instanceof Channel)) return s;
      return consume(state, s, cmd, now)!;
    }
    case "topic_put":
    case "topic_delete":
    case "topic_publish":
    case "topic_publish_batch":
    case "subscription_put":
    case "subscription_delete":
      return executeTopicCommand(state, cmd as TopicCommand, now);
    case "transaction":
      return executeTransaction(state, cmd, now);
    case "tick":
      tick(state, now);
      return { ok: true };
    default:
      return invalid(`unknown op ${(cmd as { op: unknown }).op} at entry ${index}`);
  }
}

/** Forgets expired ids and idempotency keys everywhere (a tick is rare: this may be slow). */
function tick(state: BrokerState, now: number): void {
  state.idem.expire(now);
  for (const q of state.queues.values()) q.ids.expire(now);
  for (const t of state.topics.values()) {
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

export function checkBatch(messages: readonly MessageInput[]): string | undefined {
  if (!Array.isArray(messages) || messages.length === 0 || messages.length > RECEIVE_MAX) {
    return `messages must be a list of 1..${RECEIVE_MAX} messages`;
  }
  for (let i = 0; i < messages.length; i++) {
    const e = checkMessage(messages[i]);
    if (e) return `messages[${i}]: ${e}`;
  }
  return undefined;
}

/** Why a new message would not fit, or undefined. `extra*`: already promised in a transaction. */
export function publishRefusal(
  q: Channel,
  m: MessageInput,
  extraCount = 0,
  extraBytes = 0,
): Failure | undefined {
  if (m.id === undefined && q.config.deliveryMode === "exactly_once") {
    return invalid(`Queue ${q.origin} is exactly_once: a publish must carry an id`);
  }
  const { maxMessages, maxBytes } = q.config;
  if (
    (maxMessages !== undefined && q.msgs.count + extraCount + 1 > maxMessages) ||
    (maxBytes !== undefined && q.bytes + extraBytes + m.body.length > maxBytes)
  ) {
    return { ok: false, reason: "queue_full", detail: `Queue ${q.origin} is full` };
  }
  return undefined;
}

/** Publishes one checked message to a queue: a duplicate id answers the original seq. */
export function queuePublishOne(
  state: BrokerState,
  q: Channel,
  m: MessageInput,
  now: number,
): PublishOutcome {
  q.ids.expire(now);
  if (m.id !== undefined) {
    const rec = q.ids.lookup(m.id, now);
    if (rec !== undefined) return { ok: true, seq: rec.seq, id: m.id, duplicate: true };
  }
  const refusal = publishRefusal(q, m);
  if (refusal) return refusal;
  const { buf, off } = state.slab.store(m.body);
  const r = storeMessage(q, {
    id: m.id,
    explicit: m.id !== undefined,
    buf,
    off,
    len: m.body.length,
    headers: m.headers === undefined || Object.keys(m.headers).length === 0
      ? undefined
      : { ...m.headers },
    group: m.group,
    delayMs: m.delayMs ?? 0,
    ttlMs: m.ttlMs,
  }, now);
  return { ok: true, seq: r.seq, id: r.id, duplicate: false };
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

/** receive / ack / nack / extend on a queue or subscription; undefined when it is missing. */
function consume(
  _state: BrokerState,
  ch: Channel | undefined,
  cmd: ConsumeCommand,
  now: number,
): Result | undefined {
  if (ch === undefined) return undefined;
  switch (cmd.op) {
    case "receive":
    case "subscription_receive": {
      const e = checkInt("max", cmd.max, 1, RECEIVE_MAX) ??
        checkInt("leaseMs", cmd.leaseMs, 1, DURATION_MS_MAX);
      if (e || cmd.max === undefined) return invalid(e ?? "max is required");
      return { ok: true, messages: ch.receive(cmd.max, cmd.leaseMs ?? ch.config.leaseMs, now) };
    }
    case "ack":
    case "subscription_ack": {
      const e = checkReceipts(cmd.receipts);
      if (e) return invalid(e);
      return { ok: true, results: ch.ack(cmd.receipts, now) };
    }
    case "nack":
    case "subscription_nack": {
      const e = checkReceipts(cmd.receipts) ?? checkInt("delayMs", cmd.delayMs, 0, DURATION_MS_MAX);
      if (e) return invalid(e);
      return { ok: true, results: ch.nack(cmd.receipts, cmd.delayMs ?? 0, now) };
    }
    case "extend":
    case "subscription_extend": {
      const e = checkReceipts(cmd.receipts) ??
        checkInt("leaseMs", cmd.leaseMs, 1, DURATION_MS_MAX);
      if (e || cmd.leaseMs === undefined) return invalid(e ?? "leaseMs is required");
      return { ok: true, results: ch.extend(cmd.receipts, cmd.leaseMs, now) };
    }
  }
}

export { topicPublishOne };
