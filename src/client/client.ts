/**
 * `Client`: the queue calls, publish, transactions, and the topic, subscription and cluster
 * namespaces. Every method is one logical request through `Transport`, which retries it with the
 * same Idempotency-Key and the same message ids.
 *
 * @module
 */

import { Transport, type TransportOptions } from "./transport.ts";
import type {
  ClusterView,
  MessageStatus,
  NewMessage,
  PublishResult,
  QueueConfig,
  QueueInfo,
  ReceivedMessage,
  ReceiveOptions,
  SettleResult,
  Source,
  SubscriptionConfig,
  TopicConfig,
  TopicMessage,
  Transaction,
  TransactionResult,
} from "./types.ts";
import { consume, type ConsumeHandler, type ConsumeOptions, type ConsumeStats } from "./consume.ts";
import { consumeExactlyOnce, type ExactlyOnceHandler } from "./exactly_once.ts";

/** Options of `new Client(...)`. */
export type ClientOptions = TransportOptions;

/** Per-call options. */
export interface CallOptions {
  signal?: AbortSignal;
  /** Continue an earlier logical call whose outcome was unknown. */
  idempotencyKey?: string;
}

const enc = encodeURIComponent;

/** The path prefix of a source: `/v1/queues/q` or `/v1/topics/t/subscriptions/s`. */
export function sourcePath(source: Source): string {
  if (typeof source === "string") return `/v1/queues/${enc(source)}`;
  if ("queue" in source) return `/v1/queues/${enc(source.queue)}`;
  return `/v1/topics/${enc(source.topic)}/subscriptions/${enc(source.subscription)}`;
}

/** Gives a message without an id a fresh one, once, before the first attempt. */
export function withId<T extends NewMessage>(message: T): T & { id: string } {
  return { ...message, id: message.id ?? crypto.randomUUID() };
}

/** A quorumq client for HTTP API v1; see docs/client.md. */
export class Client {
  /** The request engine (exposed for tools such as the CLI). */
  readonly transport: Transport;
  readonly topics: Topics;
  readonly subscriptions: Subscriptions;
  readonly cluster: ClusterAdmin;

  constructor(options: ClientOptions) {
    this.transport = new Transport(options);
    this.topics = new Topics(this.transport);
    this.subscriptions = new Subscriptions(this.transport);
    this.cluster = new ClusterAdmin(this.transport);
  }

  /** Creates a queue (PUT is an upsert: an existing queue gets the new config). */
  async createQueue(
    queue: string,
    config: QueueConfig = {},
    options?: CallOptions,
  ): Promise<QueueInfo> {
    return (await this.#put(`/v1/queues/${enc(queue)}`, config, options)) as QueueInfo;
  }

  /** Changes a queue's config. */
  updateQueue(queue: string, config: QueueConfig, options?: CallOptions): Promise<QueueInfo> {
    return this.createQueue(queue, config, options);
  }

  /** Deletes a queue and its messages. */
  async deleteQueue(queue: string, options?: CallOptions): Promise<void> {
    await this.transport.request({
      method: "DELETE",
      path: `/v1/queues/${enc(queue)}`,
      mutating: true,
      ...options,
    });
  }

  /** A queue's config and stats. */
  async getQueue(queue: string, options?: CallOptions): Promise<QueueInfo> {
    const answer = await this.transport.request({
      method: "GET",
      path: `/v1/queues/${enc(queue)}`,
      mutating: false,
      ...options,
    });
    return answer.body as QueueInfo;
  }

  /** Every queue with its config and stats. */
  async listQueues(options?: CallOptions): Promise<QueueInfo[]> {
    const answer = await this.transport.request({
      method: "GET",
      path: "/v1/queues",
      mutating: false,
      ...options,
    });
    const body = answer.body as QueueInfo[] | { queues: QueueInfo[] };
    return Array.isArray(body) ? body : body.queues;
  }

  /** Publishes one message; an id is generated when missing and kept across retries. */
  async publish(queue: string, message: NewMessage, options?: CallOptions): Promise<PublishResult> {
    return (await this.#post(
      `/v1/queues/${enc(queue)}/messages`,
      withId(message),
      options,
    )) as PublishResult;
  }

  /** Publishes several messages in one replicated command. */
  async publishBatch(
    queue: string,
    messages: NewMessage[],
    options?: CallOptions,
  ): Promise<PublishResult[]> {
    const body = await this.#post(`/v1/queues/${enc(queue)}/messages`, {
      messages: messages.map(withId),
    }, options);
    return (body as { results: PublishResult[] }).results;
  }

  /** Leases up to `max` messages of a queue (or a `{ topic, subscription }`); with `waitMs` the server holds the request until one arrives. */
  receive(source: Source, options: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    return receiveFrom(this.transport, sourcePath(source), options);
  }

  /** Acknowledges deliveries; only the receipt of the current attempt is `acked`. */
  ack(source: Source, receipts: string | string[], options?: CallOptions): Promise<SettleResult[]> {
    return settle(
      this.transport,
      `${sourcePath(source)}/ack`,
      { receipts: list(receipts) },
      options,
    );
  }

  /** Hands deliveries back: ready again after `delayMs`. */
  nack(
    source: Source,
    receipts: string | string[],
    delayMs?: number,
    options?: CallOptions,
  ): Promise<SettleResult[]> {
    return settle(this.transport, `${sourcePath(source)}/nack`, {
      receipts: list(receipts),
      delayMs,
    }, options);
  }

  /** Extends leases by `leaseMs` from now. */
  extend(
    source: Source,
    receipts: string | string[],
    leaseMs: number,
    options?: CallOptions,
  ): Promise<SettleResult[]> {
    return settle(this.transport, `${sourcePath(source)}/extend`, {
      receipts: list(receipts),
      leaseMs,
    }, options);
  }

  /** Where a message is, while its id is remembered. */
  async messageStatus(queue: string, id: string, options?: CallOptions): Promise<MessageStatus> {
    const path = `/v1/queues/${enc(queue)}/messages/${enc(id)}`;
    return (await this.transport.request({ method: "GET", path, mutating: false, ...options }))
      .body as MessageStatus;
  }

  /**
   * Acks and publishes atomically (one replicated command). A 409 `TransactionFailed` carries the
   * per-item reasons in `errors`; nothing was applied then.
   */
  async transaction(transaction: Transaction, options?: CallOptions): Promise<TransactionResult> {
    const body = { ...transaction, publish: transaction.publish?.map(withId) };
    return (await this.#post("/v1/transactions", body, options)) as TransactionResult;
  }

  /** Long-polls `source` and runs `handler` per message; see `consume`. */
  consume(
    source: Source,
    handler: ConsumeHandler,
    options?: ConsumeOptions,
  ): Promise<ConsumeStats> {
    return consume(this, source, handler, options);
  }

  /** Commits the handler's publishes together with the ack; see `consumeExactlyOnce`. */
  consumeExactlyOnce(
    source: Source,
    handler: ExactlyOnceHandler,
    options?: ConsumeOptions,
  ): Promise<ConsumeStats> {
    return consumeExactlyOnce(this, source, handler, options);
  }

  async #put(path: string, body: unknown, options?: CallOptions): Promise<unknown> {
    return (await this.transport.request({ method: "PUT", path, body, mutating: true, ...options }))
      .body;
  }

  async #post(path: string, body: unknown, options?: CallOptions): Promise<unknown> {
    return (await this.transport.request({
      method: "POST",
      path,
      body,
      mutating: true,
      ...options,
    })).body;
  }
}

/** Topics: publish/subscribe with a retained log. */
export class Topics {
  constructor(private readonly transport: Transport) {}

  /** Creates or updates a topic. */
  async create(topic: string, config: TopicConfig = {}, options?: CallOptions): Promise<unknown> {
    const path = `/v1/topics/${enc(topic)}`;
    return (await this.transport.request({
      method: "PUT",
      path,
      body: config,
      mutating: true,
      ...options,
    })).body;
  }

  /** Deletes a topic and its subscriptions. */
  async delete(topic: string, options?: CallOptions): Promise<void> {
    await this.transport.request({
      method: "DELETE",
      path: `/v1/topics/${enc(topic)}`,
      mutating: true,
      ...options,
    });
  }

  /** Publishes one message to every subscription. */
  async publish(topic: string, message: NewMessage, options?: CallOptions): Promise<PublishResult> {
    const path = `/v1/topics/${enc(topic)}/messages`;
    const answer = await this.transport.request({
      method: "POST",
      path,
      body: withId(message),
      mutating: true,
      ...options,
    });
    return answer.body as PublishResult;
  }

  /** Publishes several messages in one replicated command. */
  async publishBatch(
    topic: string,
    messages: NewMessage[],
    options?: CallOptions,
  ): Promise<PublishResult[]> {
    const path = `/v1/topics/${enc(topic)}/messages`;
    const body = { messages: messages.map(withId) };
    const answer = await this.transport.request({
      method: "POST",
      path,
      body,
      mutating: true,
      ...options,
    });
    return (answer.body as { results: PublishResult[] }).results;
  }

  /** Reads the retained log from `fromSeq`, without a subscription. */
  async read(
    topic: string,
    range: { fromSeq?: number; limit?: number } = {},
    options?: CallOptions,
  ): Promise<TopicMessage[]> {
    const query = new URLSearchParams();
    if (range.fromSeq !== undefined) query.set("fromSeq", String(range.fromSeq));
    if (range.limit !== undefined) query.set("limit", String(range.limit));
    const suffix = query.size > 0 ? `?${query}` : "";
    const path = `/v1/topics/${enc(topic)}/messages${suffix}`;
    const body =
      (await this.transport.request({ method: "GET", path, mutating: false, ...options })).body;
    return Array.isArray(body) ? body : (body as { messages: TopicMessage[] }).messages;
  }
}

/** Subscriptions of topics: each has its own cursor and the queue delivery semantics. */
export class Subscriptions {
  constructor(private readonly transport: Transport) {}

  /** Creates or updates a subscription. */
  async create(
    topic: string,
    subscription: string,
    config: SubscriptionConfig = {},
    options?: CallOptions,
  ): Promise<unknown> {
    const path = sourcePath({ topic, subscription });
    return (await this.transport.request({
      method: "PUT",
      path,
      body: config,
      mutating: true,
      ...options,
    })).body;
  }

  /** Deletes a subscription. */
  async delete(topic: string, subscription: string, options?: CallOptions): Promise<void> {
    const path = sourcePath({ topic, subscription });
    await this.transport.request({ method: "DELETE", path, mutating: true, ...options });
  }

  /** Leases messages of the subscription. */
  receive(
    topic: string,
    subscription: string,
    options: ReceiveOptions = {},
  ): Promise<ReceivedMessage[]> {
    return receiveFrom(this.transport, sourcePath({ topic, subscription }), options);
  }

  /** Acknowledges deliveries of the subscription. */
  ack(
    topic: string,
    subscription: string,
    receipts: string | string[],
    options?: CallOptions,
  ): Promise<SettleResult[]> {
    const path = `${sourcePath({ topic, subscription })}/ack`;
    return settle(this.transport, path, { receipts: list(receipts) }, options);
  }

  /** Hands deliveries back, ready again after `delayMs`. */
  nack(
    topic: string,
    subscription: string,
    receipts: string | string[],
    delayMs?: number,
    options?: CallOptions,
  ): Promise<SettleResult[]> {
    const path = `${sourcePath({ topic, subscription })}/nack`;
    return settle(this.transport, path, { receipts: list(receipts), delayMs }, options);
  }

  /** Extends leases by `leaseMs` from now. */
  extend(
    topic: string,
    subscription: string,
    receipts: string | string[],
    leaseMs: number,
    options?: CallOptions,
  ): Promise<SettleResult[]> {
    const path = `${sourcePath({ topic, subscription })}/extend`;
    return settle(this.transport, path, { receipts: list(receipts), leaseMs }, options);
  }
}

/** Cluster operations. */
export class ClusterAdmin {
  constructor(private readonly transport: Transport) {}

  /** The answering node's view: leader, term, commit index, members with match index. */
  async view(options?: CallOptions): Promise<ClusterView> {
    const answer = await this.transport.request({
      method: "GET",
      path: "/v1/cluster",
      mutating: false,
      ...options,
    });
    return answer.body as ClusterView;
  }

  /** Adds a voting member (one membership change at a time, committed through Raft). */
  async addMember(member: { id: string; url: string }, options?: CallOptions): Promise<unknown> {
    const path = "/v1/cluster/members";
    return (await this.transport.request({
      method: "POST",
      path,
      body: member,
      mutating: true,
      ...options,
    })).body;
  }

  /** Removes a member (never reuse its id afterwards). */
  async removeMember(id: string, options?: CallOptions): Promise<unknown> {
    const path = `/v1/cluster/members/${enc(id)}`;
    return (await this.transport.request({ method: "DELETE", path, mutating: true, ...options }))
      .body;
  }

  /** Asks the leader to hand leadership over (to `to`, or to the most up-to-date follower). */
  async transferLeadership(to?: string, options?: CallOptions): Promise<unknown> {
    const path = "/v1/cluster/leadership-transfer";
    const body = to === undefined ? {} : { to };
    return (await this.transport.request({
      method: "POST",
      path,
      body,
      mutating: true,
      ...options,
    })).body;
  }
}

async function receiveFrom(
  transport: Transport,
  prefix: string,
  options: ReceiveOptions,
): Promise<ReceivedMessage[]> {
  const { signal, ...body } = options;
  // Receive leases messages, so it is a write: with a key, a retried receive gets the same
  // deliveries back instead of leasing more that nobody would ever see until their leases end.
  const answer = await transport.request({
    method: "POST",
    path: `${prefix}/receive`,
    body,
    mutating: true,
    extraTimeoutMs: options.waitMs ?? 0,
    signal,
  });
  return (answer.body as { messages: ReceivedMessage[] }).messages;
}

async function settle(
  transport: Transport,
  path: string,
  body: unknown,
  options?: CallOptions,
): Promise<SettleResult[]> {
  const answer = await transport.request({
    method: "POST",
    path,
    body,
    mutating: true,
    ...options,
  });
  return (answer.body as { results: SettleResult[] }).results;
}

function list(receipts: string | string[]): string[] {
  return typeof receipts === "string" ? [receipts] : receipts;
}
