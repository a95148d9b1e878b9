/**
 * `Client`: the queue calls, publish, transactions, and the topic, subscription and cluster
 * namespaces. Every method is one logical request through `Transport`, which retries it with the
 * same Idempotency-Key and the same message ids.
 *
 * @module
 */

import { Transport, type TransportOptions } from "./transport.ts";
import { type CallOptions, enc, list, receiveFrom, settle, sourcePath, withId } from "./_shared.ts";
import { ClusterAdmin, Subscriptions, Topics } from "./namespaces.ts";
import type {
  MessageStatus,
  NewMessage,
  PeekResult,
  PublishResult,
  QueueConfig,
  QueueInfo,
  ReceivedMessage,
  ReceiveOptions,
  RedriveResult,
  SettleResult,
  Source,
  Transaction,
  TransactionResult,
} from "./types.ts";
import { consume, type ConsumeHandler, type ConsumeOptions, type ConsumeStats } from "./consume.ts";
import { consumeExactlyOnce, type ExactlyOnceHandler } from "./exactly_once.ts";

/** Queues whose publish path a client keeps (`#publishPath`); more clear the lot. */
const PUBLISH_PATHS_MAX = 1024;

/** Options of `new Client(...)`. */
export type ClientOptions = TransportOptions;

export type { CallOptions } from "./_shared.ts";
export { sourcePath, withId } from "./_shared.ts";

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

  /**
   * Ends this client's session on the broker, if it opened one, so its stored answers go now
   * rather than after its idle timeout (1 h by default), then closes its streams. Call it when
   * the calls are done; a later call opens a new stream and a later write a new session.
   */
  async close(): Promise<void> {
    try {
      await this.transport.closeSession();
    } finally {
      await this.transport.close();
    }
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
  publish(queue: string, message: NewMessage, options?: CallOptions): Promise<PublishResult> {
    let path: string;
    try {
      path = this.#publishPath(queue);
    } catch (error) {
      return Promise.reject(error); // a queue name `encodeURIComponent` refuses, as when async
    }
    // The transport's own promise (no async layer of its own: ~0.2 KB and a turn per call).
    return this.transport.requestBody({
      method: "POST",
      path,
      body: withId(message),
      mutating: true,
      ...options,
    }) as Promise<PublishResult>;
  }

  /** Each queue's publish path, built once (the stream looks each path up by its string). */
  readonly #publishPaths = new Map<string, string>();

  #publishPath(queue: string): string {
    let path = this.#publishPaths.get(queue);
    if (path === undefined) {
      if (this.#publishPaths.size >= PUBLISH_PATHS_MAX) this.#publishPaths.clear();
      path = `/v1/queues/${enc(queue)}/messages`;
      this.#publishPaths.set(queue, path);
    }
    return path;
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

  /** A queue's stored messages from `fromSeq` (default: the first), leasing nothing. */
  async peek(
    queue: string,
    range: { fromSeq?: number; limit?: number } = {},
    options?: CallOptions,
  ): Promise<PeekResult> {
    const query = new URLSearchParams();
    if (range.fromSeq !== undefined) query.set("fromSeq", String(range.fromSeq));
    if (range.limit !== undefined) query.set("limit", String(range.limit));
    const path = `/v1/queues/${enc(queue)}/peek${query.size > 0 ? `?${query}` : ""}`;
    return (await this.transport.request({ method: "GET", path, mutating: false, ...options }))
      .body as PeekResult;
  }

  /** Drops every ready and delayed message of a queue; answers how many went. */
  async purge(queue: string, options?: CallOptions): Promise<number> {
    const path = `/v1/queues/${enc(queue)}/purge`;
    return ((await this.#post(path, {}, options)) as { purged: number }).purged;
  }

  /**
   * Moves dead-lettered messages of `queue` back to their origin queues: these `seqs`, or the
   * first 10,000 (repeat while `remaining` > 0 and `redriven` > 0).
   */
  async redrive(queue: string, seqs?: number[], options?: CallOptions): Promise<RedriveResult> {
    const path = `/v1/queues/${enc(queue)}/redrive`;
    return (await this.#post(path, seqs === undefined ? {} : { seqs }, options)) as RedriveResult;
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
