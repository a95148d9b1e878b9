/**
 * Read-only query shapes: answered from local state, as of the last applied entry (a linearizable
 * read first waits for the read barrier). The write commands and their results are in commands.ts.
 *
 * @module
 */

import type { QueueConfig, QueueStats, SubscriptionConfig, TopicConfig } from "./commands.ts";

/** A queue's config and stats. */
export interface QueueInfo {
  readonly name: string;
  readonly config: QueueConfig;
  readonly stats: QueueStats;
}

/** Where a message stands, while its id is remembered (`dedupWindowMs`). */
export interface MessageStatus {
  readonly id: string;
  readonly seq: number;
  readonly state: "ready" | "delayed" | "leased" | "acked" | "dead";
  /** Deliveries so far. */
  readonly attempt: number;
}

export interface TopicInfo {
  readonly name: string;
  readonly config: TopicConfig;
  /** Retained log: first and next seq (`firstSeq === nextSeq` when empty), count and bytes. */
  readonly firstSeq: number;
  readonly nextSeq: number;
  readonly messages: number;
  readonly bytes: number;
  readonly published: number;
  readonly subscriptions: readonly string[];
}

/** A retained topic message, read by seq without a subscription. */
export interface TopicMessage {
  readonly seq: number;
  readonly id: string;
  readonly body: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  readonly group?: string;
  readonly subject?: string;
  readonly publishedAt: number;
}

/** A claim as read (`BrokerState.claim`). */
export interface ClaimInfo {
  readonly holder: string | null;
  readonly data: string | null;
  readonly subscriptions: readonly string[];
  /** The stamp of the last take: larger for every later one. */
  readonly stamp: number;
  readonly expireMs?: number;
  /** Entry time it ends at (released, with an expiry). */
  readonly endsAt?: number;
}

/** A page of a topic log read: the messages, and the seq the next page starts at. */
export interface TopicPage {
  readonly messages: TopicMessage[];
  readonly nextSeq: number;
}

export interface SubscriptionInfo {
  readonly topic: string;
  readonly name: string;
  readonly config: SubscriptionConfig;
  readonly stats: QueueStats & {
    /** Messages removed by topic retention before this subscription settled them. */
    readonly retentionDropped: number;
  };
  /** The next topic seq this subscription will get. */
  readonly cursor: number;
}

/** A stored message as `peek` shows it: not leased, nothing changes. */
export interface PeekedMessage {
  readonly seq: number;
  readonly id: string;
  readonly state: "ready" | "delayed" | "leased";
  /** Deliveries so far. */
  readonly attempt: number;
  readonly body: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  readonly group?: string;
  readonly publishedAt: number;
}

/** What long-poll needs: is something deliverable now, and if not, when the next one may be. */
export interface Deliverability {
  readonly deliverableNow: boolean;
  /** Entry-time ms when a delay or a lease ends next, if any; undefined when nothing pending. */
  readonly nextAt?: number;
}
