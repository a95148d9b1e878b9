/**
 * The broker's replicated state machine: queues, topics, subscriptions, leases, dedup ids,
 * idempotency keys. Pure and deterministic: time is the entry's timestamp, never a clock.
 *
 * @module
 */

export * from "./commands.ts";
