/**
 * Queue, subscription and topic configs with their defaults filled in. A leaf. Folder-private
 * (`QUEUE_DEFAULTS` is exported through `mod.ts`).
 *
 * @module
 */

import type {
  QueueConfig,
  QueueOptions,
  SubscriptionConfig,
  SubscriptionOptions,
  TopicConfig,
  TopicOptions,
} from "./commands.ts";

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

export function resolveTopicConfig(o: TopicOptions): TopicConfig {
  const c: { -readonly [K in keyof TopicConfig]: TopicConfig[K] } = {
    dedupWindowMs: o.dedupWindowMs ?? QUEUE_DEFAULTS.dedupWindowMs,
  };
  if (o.maxAgeMs !== undefined) c.maxAgeMs = o.maxAgeMs;
  if (o.maxMessages !== undefined) c.maxMessages = o.maxMessages;
  if (o.maxBytes !== undefined) c.maxBytes = o.maxBytes;
  if (o.maxRetained !== undefined) c.maxRetained = o.maxRetained;
  if (o.maxRetainedBytes !== undefined) c.maxRetainedBytes = o.maxRetainedBytes;
  if (o.retention !== undefined) c.retention = o.retention;
  return c;
}

/**
 * A subscription's config: its delivery options with defaults, and its routing. `filter` becomes
 * a list of one, so the config names the patterns one way; no routing leaves no fields.
 */
export function resolveSubscriptionConfig(o: SubscriptionOptions): SubscriptionConfig {
  const { startAt: _startAt, filter, filters, headers, ...queueOptions } = o;
  const c: { -readonly [K in keyof SubscriptionConfig]: SubscriptionConfig[K] } =
    resolveQueueConfig(queueOptions);
  const list = filter !== undefined ? [filter] : filters;
  if (list !== undefined) c.filters = [...list];
  if (headers !== undefined) c.headers = { ...headers };
  return c;
}
