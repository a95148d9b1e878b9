/**
 * The shapes of HTTP API v1 (docs/design.md, "HTTP API v1") as the client sees them.
 * Plain TypeScript, no runtime code: this file runs anywhere.
 *
 * @module
 */

/** How a queue hands out messages. */
export type DeliveryMode = "at_most_once" | "at_least_once" | "exactly_once";

/** The settable configuration of a queue (`PUT /v1/queues/{q}`). */
export interface QueueConfig {
  deliveryMode?: DeliveryMode;
  leaseMs?: number;
  maxDeliveries?: number;
  deadLetterQueue?: string;
  dedupWindowMs?: number;
  fifo?: boolean;
  maxMessages?: number;
  maxBytes?: number;
  messageTtlMs?: number;
}

/** A queue's counters, as `GET /v1/queues/{q}` reports them. */
export interface QueueStats {
  ready?: number;
  leased?: number;
  delayed?: number;
  published?: number;
  acked?: number;
  deadLettered?: number;
}

/** What `GET /v1/queues[/{q}]` answers: the config and the stats (server fields kept as sent). */
export type QueueInfo = QueueConfig & QueueStats & { name?: string; [field: string]: unknown };

/** A message to publish. `id` is generated (crypto.randomUUID) when missing. */
export interface NewMessage {
  body: unknown;
  id?: string;
  group?: string;
  delayMs?: number;
  ttlMs?: number;
  headers?: Record<string, string>;
  /** Topics route by it: dot-separated tokens (`orders.eu.created`), 1-255 bytes, no wildcards. */
  subject?: string;
}

/** The answer to one publish. `duplicate` means the id was seen within the dedup window. */
export interface PublishResult {
  seq: number;
  id: string;
  duplicate: boolean;
}

/** One delivery attempt of one message, as `receive` returns it. */
export interface ReceivedMessage {
  seq: number;
  id: string;
  body: unknown;
  headers: Record<string, string>;
  group?: string | null;
  subject?: string | null;
  attempt: number;
  /** Opaque and fenced: it settles this attempt only. */
  receipt: string;
  leaseExpiresAt: number;
  publishedAt: number;
}

/** Options of `receive`. */
export interface ReceiveOptions {
  /** 1..1000 messages at most. */
  max?: number;
  /** Long poll: how long the server may wait for a message. */
  waitMs?: number;
  leaseMs?: number;
  signal?: AbortSignal;
}

/** The outcome of settling one receipt (ack, nack or extend). */
export type SettleStatus = "acked" | "already_acked" | "stale" | "not_found" | string;

/** One line of an ack/nack/extend answer. */
export interface SettleResult {
  receipt: string;
  status: SettleStatus;
  leaseExpiresAt?: number;
}

/** Where a message's life is (`GET /v1/queues/{q}/messages/{id}`). */
export interface MessageStatus {
  id: string;
  seq: number;
  state: "ready" | "delayed" | "leased" | "acked" | "dead";
  attempt: number;
}

/** A stored message as `peek` shows it (nothing leased). */
export interface PeekedMessage {
  seq: number;
  id: string;
  state: "ready" | "delayed" | "leased";
  attempt: number;
  body: unknown;
  headers: Record<string, string>;
  group: string | null;
  publishedAt: number;
}

/** `peek`'s answer: a page of messages and where the next page starts. */
export interface PeekResult {
  messages: PeekedMessage[];
  nextSeq: number;
}

/** `redrive`'s answer. */
export interface RedriveResult {
  redriven: number;
  skipped: {
    seq: number;
    reason: "not_found" | "leased" | "no_origin" | "origin_not_found" | "origin_full";
  }[];
  /** Ready and delayed messages left in the dead-letter queue. */
  remaining: number;
}

/** Retention and dedup settings of a topic (`PUT /v1/topics/{t}`). */
export interface TopicConfig {
  maxAgeMs?: number;
  maxMessages?: number;
  maxBytes?: number;
  dedupWindowMs?: number;
  /** The most subjects with a retained message (MQTT retained messages); beyond: `RetainedFull`. */
  maxRetained?: number;
  /** The most bytes of retained message bodies; beyond: `RetainedFull`. */
  maxRetainedBytes?: number;
  /**
   * `limits` (default): kept until the limits above drop it, from every subscription too.
   * `interest`: kept only while a subscription it was routed to has not settled it.
   */
  retention?: "limits" | "interest";
}

/**
 * A subscription's header conditions, all of which must hold: a header equal to a string, or
 * present (`{ exists: true }`) or absent (`{ exists: false }`).
 */
export type HeaderMatch = Record<string, string | { exists: boolean }>;

/** A subscription: its start point, its routing, plus the queue options for delivery. */
export interface SubscriptionConfig extends QueueConfig {
  startAt?: "earliest" | "latest" | { seq: number };
  /** One subject pattern: `*` matches one token, `>` one or more (last token only). */
  filter?: string;
  /** Up to 64 patterns (not with `filter`); none: every message. */
  filters?: string[];
  headers?: HeaderMatch;
}

/** One message of a topic's retained log (`GET /v1/topics/{t}/messages`). */
export interface TopicMessage {
  seq: number;
  id: string;
  body: unknown;
  headers?: Record<string, string>;
  group?: string | null;
  subject?: string | null;
  publishedAt?: number;
  [field: string]: unknown;
}

/** Which part of a topic's log to read. */
export interface TopicRange {
  fromSeq?: number;
  /** 1..1000 messages; default 100. */
  limit?: number;
  /** A subject pattern (`orders.*.created`): only messages whose subject matches. */
  subject?: string;
}

/** A page of a topic's log: its messages, and the `fromSeq` of the next page. */
export interface TopicPage {
  messages: TopicMessage[];
  nextSeq: number;
}

/** Where messages are consumed from: a queue, or a topic's subscription. */
export type Source = string | { queue: string } | { topic: string; subscription: string };

/** One ack inside a transaction. */
export type TransactionAck =
  | { queue: string; receipt: string }
  | { topic: string; subscription: string; receipt: string };

/** One publish inside a transaction. */
export type TransactionPublish = NewMessage & ({ queue: string } | { topic: string });

/** The body of `POST /v1/transactions`. */
export interface Transaction {
  ack?: TransactionAck[];
  publish?: TransactionPublish[];
}

/** The answer of a committed transaction (fields kept as the server sent them). */
export interface TransactionResult {
  ack?: SettleResult[];
  publish?: PublishResult[];
  [field: string]: unknown;
}

/** One member in the cluster view. */
export interface ClusterMember {
  id: string;
  url: string;
  role: string;
  matchIndex?: number;
  lastContactMs?: number;
  [field: string]: unknown;
}

/** `GET /v1/cluster`. */
export interface ClusterView {
  nodeId: string;
  leaderId: string | null;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  members: ClusterMember[];
  [field: string]: unknown;
}
