/**
 * The replicated commands of the broker state machine, their results, and the envelope that
 * travels in a Raft entry. The HTTP layer builds commands from requests, proposes envelopes, and
 * turns results into responses; every node applies the same envelopes in the same order.
 *
 * Compatibility: old logs must apply on new code. The `op` tags below are the op codes of the
 * log: APPEND-ONLY. Never rename or remove an `op`, a result `status`, or a `reason` code; only
 * add new ones and new optional fields.
 *
 * @module
 */

/** How a queue or subscription settles deliveries. */
export type DeliveryMode = "at_most_once" | "at_least_once" | "exactly_once";

/** Options of a queue (and the delivery options of a subscription). Absent: the default. */
export interface QueueOptions {
  /** Default `at_least_once`. */
  readonly deliveryMode?: DeliveryMode;
  /** Lease of a delivery when `receive` names none. Default 30 000. */
  readonly leaseMs?: number;
  /** Deliveries before a message goes to `deadLetterQueue` (or is dropped). Absent: unlimited. */
  readonly maxDeliveries?: number;
  /** The queue that receives messages past `maxDeliveries` or past their TTL. */
  readonly deadLetterQueue?: string;
  /** How long a message id is remembered for dedup and status. Default 300 000 (5 min). */
  readonly dedupWindowMs?: number;
  /** One message of a `group` in flight at a time, in seq order. Fixed at creation. */
  readonly fifo?: boolean;
  /** Most stored messages (ready + leased + delayed); a publish beyond: `queue_full`. */
  readonly maxMessages?: number;
  /** Most stored body bytes; a publish beyond: `queue_full`. */
  readonly maxBytes?: number;
  /** TTL of every message (a message's own `ttlMs` wins when shorter). */
  readonly messageTtlMs?: number;
}

/** A queue's options with the defaults filled in. */
export interface QueueConfig {
  readonly deliveryMode: DeliveryMode;
  readonly leaseMs: number;
  readonly maxDeliveries?: number;
  readonly deadLetterQueue?: string;
  readonly dedupWindowMs: number;
  readonly fifo: boolean;
  readonly maxMessages?: number;
  readonly maxBytes?: number;
  readonly messageTtlMs?: number;
}

/** Retention and dedup options of a topic. Retention always wins over subscriptions. */
export interface TopicOptions {
  readonly maxAgeMs?: number;
  readonly maxMessages?: number;
  readonly maxBytes?: number;
  /** Default 300 000 (5 min). */
  readonly dedupWindowMs?: number;
  /** The most subjects with a retained message; a new one beyond it is `retained_full`. */
  readonly maxRetained?: number;
  /** The most bytes of retained message bodies; more is `retained_full`. */
  readonly maxRetainedBytes?: number;
  /** Default `limits` (absent). */
  readonly retention?: TopicRetention;
}

/**
 * What keeps a topic's messages. `limits`: the log keeps every message until `maxAgeMs`,
 * `maxMessages` or `maxBytes` drops it (none: forever), and the drop leaves every subscription too
 * (retention wins). `interest`: a message is kept only while a subscription it was routed to still
 * holds it (unsettled); one that reaches no subscription is not kept at all. The limits, if given,
 * still drop messages as with `limits` (a cap).
 */
export type TopicRetention = "limits" | "interest";

export interface TopicConfig {
  readonly maxAgeMs?: number;
  readonly maxMessages?: number;
  readonly maxBytes?: number;
  readonly dedupWindowMs: number;
  readonly maxRetained?: number;
  readonly maxRetainedBytes?: number;
  /** As given (absent: `limits`). */
  readonly retention?: TopicRetention;
}

/** Where a new subscription starts reading its topic. */
export type StartAt = "earliest" | "latest" | { readonly seq: number };

/**
 * Header conditions of a subscription: every one must hold. A string: the header is equal to it;
 * `{ exists }`: the header is present (true) or absent (false).
 */
export type HeaderMatch = Readonly<Record<string, string | { readonly exists: boolean }>>;

/**
 * Options of a subscription: the start point (used at creation only), routing (`filter` or
 * `filters`, and `headers`; changeable later) and delivery options.
 */
export interface SubscriptionOptions extends QueueOptions {
  /** Default `latest`. */
  readonly startAt?: StartAt;
  /** One subject pattern (`orders.*.created`, `orders.>`); not with `filters`. */
  readonly filter?: string;
  /** Up to 64 patterns: a message matching any of them is routed here. Absent: every subject. */
  readonly filters?: readonly string[];
  /** Header conditions, all of which a message must meet. */
  readonly headers?: HeaderMatch;
}

/** A subscription's config: its delivery config, and routing when it has any. */
export interface SubscriptionConfig extends QueueConfig {
  /** The patterns (a `filter` is a list of one); absent: every subject. */
  readonly filters?: readonly string[];
  readonly headers?: HeaderMatch;
}

/** One message as published. */
export interface MessageInput {
  /** The payload bytes (the HTTP layer passes the UTF-8 JSON text); never parsed here. */
  readonly body: Uint8Array;
  /** Dedup and status key; generated (`~...`, reserved prefix) when absent. */
  readonly id?: string;
  readonly group?: string;
  readonly delayMs?: number;
  readonly ttlMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Dot-separated tokens (`orders.eu.created`) that subscriptions' filters route by. */
  readonly subject?: string;
  /**
   * Topic publishes with a subject only: `set` also keeps the message as its subject's retained
   * message (replacing the one before), `clear` drops the subject's retained message. Either way
   * the message is published as usual.
   */
  readonly retain?: "set" | "clear";
  /**
   * Topic publishes only: published at most once per slot of a claim (MQTT QoS 2: the slot is
   * the packet id of the client's session). While the slot is held (until `claim_free`), a
   * publish under it answers the first one's seq as a duplicate and is not applied. `holder`:
   * the claim's holder that sends it (an MQTT connection); when the claim is no longer its (taken
   * over, released, ended) the publish is refused `session_moved`, neither applied nor a
   * duplicate: a late retry of a connection that ended cannot land after the client finished the
   * exchange elsewhere and freed the slot (test/chaos/FINDINGS.md, F11).
   */
  readonly once?: { readonly claim: string; readonly slot: number; readonly holder?: string };
}

/** A queue or a topic's subscription: what receive/ack/nack/extend act on. */
export type ConsumerTarget =
  | { readonly queue: string }
  | { readonly topic: string; readonly subscription: string };

/** A publish destination inside a transaction. */
export type PublishTarget = { readonly queue: string } | { readonly topic: string };

/**
 * Every replicated command. The `op` string is the op code: APPEND-ONLY (see the module doc).
 */
export type Command =
  | { readonly op: "queue_put"; readonly queue: string; readonly options: QueueOptions }
  | { readonly op: "queue_update"; readonly queue: string; readonly options: QueueOptions }
  | { readonly op: "queue_delete"; readonly queue: string }
  | { readonly op: "publish"; readonly queue: string; readonly message: MessageInput }
  | {
    readonly op: "publish_batch";
    readonly queue: string;
    readonly messages: readonly MessageInput[];
  }
  | {
    readonly op: "receive";
    readonly queue: string;
    readonly max: number;
    readonly leaseMs?: number;
  }
  | { readonly op: "ack"; readonly queue: string; readonly receipts: readonly string[] }
  | {
    readonly op: "nack";
    readonly queue: string;
    readonly receipts: readonly string[];
    readonly delayMs?: number;
  }
  | {
    readonly op: "extend";
    readonly queue: string;
    readonly receipts: readonly string[];
    readonly leaseMs: number;
  }
  | { readonly op: "topic_put"; readonly topic: string; readonly options: TopicOptions }
  | { readonly op: "topic_delete"; readonly topic: string }
  | { readonly op: "topic_publish"; readonly topic: string; readonly message: MessageInput }
  | {
    readonly op: "topic_publish_batch";
    readonly topic: string;
    readonly messages: readonly MessageInput[];
  }
  | {
    readonly op: "subscription_put";
    readonly topic: string;
    readonly subscription: string;
    readonly options: SubscriptionOptions;
  }
  | { readonly op: "subscription_delete"; readonly topic: string; readonly subscription: string }
  | {
    readonly op: "subscription_receive";
    readonly topic: string;
    readonly subscription: string;
    readonly max: number;
    readonly leaseMs?: number;
  }
  | {
    readonly op: "subscription_ack";
    readonly topic: string;
    readonly subscription: string;
    readonly receipts: readonly string[];
  }
  | {
    readonly op: "subscription_nack";
    readonly topic: string;
    readonly subscription: string;
    readonly receipts: readonly string[];
    readonly delayMs?: number;
  }
  | {
    readonly op: "subscription_extend";
    readonly topic: string;
    readonly subscription: string;
    readonly receipts: readonly string[];
    readonly leaseMs: number;
  }
  | {
    readonly op: "transaction";
    readonly ack: readonly (ConsumerTarget & { readonly receipt: string })[];
    readonly publish: readonly (PublishTarget & MessageInput)[];
  }
  /** Moves time forward (leases end, delays end, TTLs, dedup windows) with no other effect. */
  | { readonly op: "tick" }
  /**
   * Opens a client session (Raft dissertation §6.3); its id is this entry's index. It expires
   * after `timeoutMs` of entry time without a command on it (default 1 h).
   */
  | { readonly op: "session_open"; readonly timeoutMs?: number }
  /** Keeps a session alive without another effect. */
  | { readonly op: "session_keepalive"; readonly session: number }
  /** Ends a session and drops its stored answers. */
  | { readonly op: "session_close"; readonly session: number }
  /** Drops every ready and delayed message of a queue; leased ones stay with their consumers. */
  | { readonly op: "queue_purge"; readonly queue: string }
  /**
   * Moves dead-lettered messages of `queue` back to the queue each came from (its
   * `x-quorumq-origin` header): the ready or delayed ones with these seqs, or (no `seqs`) the
   * first `REDRIVE_MAX` of them.
   */
  | { readonly op: "queue_redrive"; readonly queue: string; readonly seqs?: readonly number[] }
  /**
   * Forgets the proposer's Idempotency-Key `key` before its 24 h are over, so the key may carry
   * another request (MQTT's QoS 2: PUBREL frees a packet id). Idempotent.
   */
  | { readonly op: "idempotency_release"; readonly key: string }
  | ClaimCommand;

export type CommandOp = Command["op"];

/** The problem codes the broker answers; they match the HTTP API's error registry. */
export type ProblemCode =
  | "invalid_request"
  | "queue_not_found"
  | "topic_not_found"
  | "subscription_not_found"
  | "queue_full"
  /** A retained message beyond the topic's `maxRetained` / `maxRetainedBytes`; nothing applied. */
  | "retained_full"
  | "idempotency_conflict"
  | "transaction_aborted"
  /** The write named a session that expired, was closed, never existed, or is another caller's. */
  | "session_expired"
  /** No room for another session or Idempotency-Key answer (count or byte bound): retry later. */
  | "sessions_full"
  /**
   * A claim write (or `once` publish) named a holder that no longer holds the claim: another
   * connection took the session, or it was released; nothing applied.
   */
  | "session_moved";

/** A per-item reason inside a refused transaction. */
export interface ItemError {
  /** `ack[2]` or `publish[0]`. */
  readonly item: string;
  readonly reason: ProblemCode | Exclude<ReceiptStatus, "acked" | "nacked" | "extended">;
  readonly detail: string;
}

/** An expected refusal of a whole command. */
export interface Failure {
  readonly ok: false;
  readonly reason: ProblemCode;
  readonly detail: string;
  /** Per-item reasons (transactions). */
  readonly errors?: readonly ItemError[];
}

/** Answer for one published message. */
export type PublishOutcome =
  | { readonly ok: true; readonly seq: number; readonly id: string; readonly duplicate: boolean }
  | Failure;

/** One message handed out by a receive. */
export interface Delivery {
  readonly seq: number;
  readonly id: string;
  readonly body: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  readonly group?: string;
  readonly subject?: string;
  /** 1 for the first delivery. */
  readonly attempt: number;
  /** Opaque, fenced: names this attempt of this message in this queue incarnation. */
  readonly receipt: string;
  /** Entry-time ms when the lease ends (at_most_once: the delivery time; nothing to settle). */
  readonly leaseExpiresAt: number;
  readonly publishedAt: number;
}

/**
 * What happened to one receipt: `acked` (ack), `nacked` (nack), `extended` (extend) when done;
 * `already_acked`: this very attempt was acked before (a retried ack); `stale`: that attempt's
 * lease is over (the message went back to the queue, to another consumer, or was settled by
 * another attempt); `not_found`: no such message is known (wrong queue, never issued, or
 * forgotten after its dedup window). Append-only.
 */
export type ReceiptStatus =
  | "acked"
  | "nacked"
  | "extended"
  | "already_acked"
  | "stale"
  | "not_found";

export interface ReceiptResult {
  readonly receipt: string;
  readonly status: ReceiptStatus;
  /** extend, when done: the new lease end. */
  readonly leaseExpiresAt?: number;
}

export interface QueueStats {
  readonly ready: number;
  readonly leased: number;
  readonly delayed: number;
  readonly published: number;
  readonly acked: number;
  /** Deliveries handed out by receive; a redelivery counts again. */
  readonly delivered: number;
  /** Moved to a dead-letter queue, or dropped for lack of one (max deliveries or TTL). */
  readonly deadLettered: number;
  /** Body bytes stored. */
  readonly bytes: number;
}

/** Success results per op. `created` tells 201 from 200 for the put ops. */
export interface ResultByOp extends ClaimResultByOp {
  queue_put: { readonly ok: true; readonly created: boolean; readonly config: QueueConfig };
  queue_update: { readonly ok: true; readonly created: false; readonly config: QueueConfig };
  queue_delete: { readonly ok: true };
  publish: PublishOutcome & { readonly ok: true };
  publish_batch: { readonly ok: true; readonly results: readonly PublishOutcome[] };
  receive: { readonly ok: true; readonly messages: readonly Delivery[] };
  ack: { readonly ok: true; readonly results: readonly ReceiptResult[] };
  nack: { readonly ok: true; readonly results: readonly ReceiptResult[] };
  extend: { readonly ok: true; readonly results: readonly ReceiptResult[] };
  topic_put: { readonly ok: true; readonly created: boolean; readonly config: TopicConfig };
  topic_delete: { readonly ok: true };
  topic_publish: PublishOutcome & { readonly ok: true };
  topic_publish_batch: { readonly ok: true; readonly results: readonly PublishOutcome[] };
  subscription_put: {
    readonly ok: true;
    readonly created: boolean;
    readonly config: SubscriptionConfig;
    /** The first topic seq this subscription gets. */
    readonly startSeq: number;
  };
  subscription_delete: { readonly ok: true };
  subscription_receive: { readonly ok: true; readonly messages: readonly Delivery[] };
  subscription_ack: { readonly ok: true; readonly results: readonly ReceiptResult[] };
  subscription_nack: { readonly ok: true; readonly results: readonly ReceiptResult[] };
  subscription_extend: { readonly ok: true; readonly results: readonly ReceiptResult[] };
  transaction: {
    readonly ok: true;
    readonly ack: readonly ReceiptResult[];
    readonly publish: readonly PublishOutcome[];
  };
  tick: { readonly ok: true };
  session_open: { readonly ok: true; readonly session: number; readonly timeoutMs: number };
  session_keepalive: { readonly ok: true; readonly expiresAt: number };
  session_close: { readonly ok: true };
  queue_purge: { readonly ok: true; readonly purged: number };
  queue_redrive: {
    readonly ok: true;
    readonly redriven: number;
    /** Named or found, but not moved: leased, no origin queue, the origin is full. */
    readonly skipped: readonly RedriveSkip[];
    /** Ready and delayed messages left in the queue. */
    readonly remaining: number;
  };
  /** `released`: the key was held (false: it was not, or already released). */
  idempotency_release: { readonly ok: true; readonly released: boolean };
}

/** Why one message was not redriven. Append-only. */
export type RedriveSkipReason =
  | "not_found"
  | "leased"
  | "no_origin"
  | "origin_not_found"
  | "origin_full";

export interface RedriveSkip {
  readonly seq: number;
  readonly reason: RedriveSkipReason;
}

/** The result of applying one command: its success shape or a failure; `replayed` when the
 * answer came from a session's stored answers or the Idempotency-Key table and the command was
 * not applied again. */
export type ResultOf<C extends Command> = (ResultByOp[C["op"]] | Failure) & {
  readonly replayed?: true;
};

/** Any result. */
export type Result = ResultOf<Command>;

/**
 * A command as the HTTP layer hands it to its node: no time. The node that proposes it stamps
 * the entry time (`EntryClock.stamp`), so no other node's clock can reach an entry.
 */
export interface Proposal {
  readonly cmd: Command;
  /** Idempotency-Key and a fingerprint of the request (method, path, body) it came with. */
  readonly idem?: { readonly key: string; readonly fingerprint: string };
  /**
   * The client session this write belongs to: its id, the write's sequence number in it, and the
   * lowest sequence number whose answer the client has not received yet (answers below it are
   * dropped). A repeated (id, seq) returns the stored answer and is never applied again.
   */
  readonly session?: SessionRef;
  /**
   * Who proposes (the bearer token's name when auth is on): sessions and Idempotency-Keys are
   * scoped to it, so one caller never reads another's stored answers.
   */
  readonly owner?: string;
}

/** A write's place in its client session. */
export interface SessionRef {
  readonly id: number;
  readonly seq: number;
  readonly lowest: number;
}

/** What travels in a Raft entry. */
export interface Envelope extends Proposal {
  /**
   * Entry time (ms), stamped by the leader at propose (`EntryClock.stamp`): its count of time
   * since the last entry time it applied, on its monotonic clock. Apply clamps it to be
   * non-decreasing.
   */
  readonly ts: number;
  /**
   * `ts` is the proposer's wall clock because it had applied no entry time yet: apply uses it
   * only when no entry before carried a time (a new cluster's first), and ignores it otherwise.
   */
  readonly wallClock?: true;
}

export {
  BATCH_BOUNDS,
  type BatchBounds,
  type DecodedEntry,
  decodeEntry,
  decodeEnvelope,
  encodeBatch,
  encodeEntry,
  encodeEnvelope,
  mustGoAlone,
  type PackedProposal,
  packProposal,
  proposalBytes,
  splitRuns,
  type Stamp,
} from "./envelope.ts";
export type { ClaimCommand, ClaimResultByOp } from "./commands_claims.ts";
import type { ClaimCommand, ClaimResultByOp } from "./commands_claims.ts";

// The read-only query shapes live in queries.ts; re-exported so importers keep one module.
export * from "./queries.ts";
