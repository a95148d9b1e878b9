/**
 * The call groups beside queues: `client.topics`, `client.subscriptions`, `client.cluster`.
 *
 * @module
 */

import type { Transport } from "./transport.ts";
import type {
  ClusterView,
  NewMessage,
  PublishResult,
  ReceivedMessage,
  ReceiveOptions,
  SettleResult,
  SubscriptionConfig,
  TopicConfig,
  TopicMessage,
  TopicPage,
  TopicRange,
} from "./types.ts";
import { type CallOptions, enc, list, receiveFrom, settle, sourcePath, withId } from "./_shared.ts";

/** How long a node watches a leadership transfer asked with `wait` before it answers (504). */
const TRANSFER_WAIT_MS = 10_000;

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

  /**
   * Publishes one message to every subscription it is routed to: those without filters, and
   * those whose filters match its `subject` and whose header conditions its headers meet.
   */
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

  /**
   * Reads the retained log from `fromSeq`, without a subscription; `subject` keeps the messages
   * whose subject matches that pattern.
   */
  async read(
    topic: string,
    range: TopicRange = {},
    options?: CallOptions,
  ): Promise<TopicMessage[]> {
    return (await this.readPage(topic, range, options)).messages;
  }

  /**
   * One page of the log and where the next starts: with `subject`, a page may hold fewer than
   * `limit` messages (the server looks at a bounded stretch of the log) without being the end.
   */
  async readPage(topic: string, range: TopicRange = {}, options?: CallOptions): Promise<TopicPage> {
    const query = new URLSearchParams();
    if (range.fromSeq !== undefined) query.set("fromSeq", String(range.fromSeq));
    if (range.limit !== undefined) query.set("limit", String(range.limit));
    if (range.subject !== undefined) query.set("subject", range.subject);
    const suffix = query.size > 0 ? `?${query}` : "";
    const path = `/v1/topics/${enc(topic)}/messages${suffix}`;
    const body =
      (await this.transport.request({ method: "GET", path, mutating: false, ...options })).body;
    return body as TopicPage;
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

  /**
   * Asks the leader to hand leadership over (to `to`, or to the most up-to-date follower). Without
   * `wait` it answers once the transfer started (202); with `wait: true`, once another node leads
   * (the cluster view, naming it), or it throws `Conflict` when the leader abandoned the transfer
   * (its target did not take over within an election timeout): ask again.
   */
  async transferLeadership(
    to?: string,
    options?: CallOptions & { wait?: boolean },
  ): Promise<unknown> {
    const { wait, ...call } = options ?? {};
    const body = { ...(to === undefined ? {} : { to }), ...(wait ? { wait: true } : {}) };
    return (await this.transport.request({
      method: "POST",
      path: "/v1/cluster/leadership-transfer",
      body,
      mutating: true,
      // The node watches the transfer for 10 s at most before it answers.
      ...(wait ? { extraTimeoutMs: TRANSFER_WAIT_MS } : {}),
      ...call,
    })).body;
  }
}
