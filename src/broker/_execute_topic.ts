/**
 * Topic and subscription commands. Folder-private.
 *
 * @module
 */

import type {
  Command,
  Failure,
  MessageInput,
  PublishOutcome,
  Result,
  SubscriptionOptions,
  TopicConfig,
  TopicOptions,
} from "./commands.ts";
import { Channel } from "./_channel.ts";
import { Topic, type TopicMsg } from "./_topic.ts";
import type { BrokerState } from "./state.ts";
import { checkBatch, QUEUE_DEFAULTS, resolveQueueConfig } from "./_execute.ts";
import {
  checkMessage,
  checkName,
  checkSubscriptionOptions,
  checkTopicOptions,
  GENERATED_ID_PREFIX,
  invalid,
} from "./validate.ts";

export type TopicCommand = Extract<
  Command,
  {
    op:
      | "topic_put"
      | "topic_delete"
      | "topic_publish"
      | "topic_publish_batch"
      | "subscription_put"
      | "subscription_delete";
  }
>;

export function topicNotFound(name: string): Failure {
  return { ok: false, reason: "topic_not_found", detail: `Topic ${name} does not exist` };
}

/** The subscription, or the failure that names what is missing. */
export function findSubscription(
  state: BrokerState,
  topic: string,
  name: string,
): Channel | Failure {
  const t = state.topics.get(topic);
  if (t === undefined) return topicNotFound(topic);
  const s = t.subs.get(name);
  if (s !== undefined) return s;
  return {
    ok: false,
    reason: "subscription_not_found",
    detail: `Subscription ${name} of topic ${topic} does not exist`,
  };
}

export function resolveTopicConfig(o: TopicOptions): TopicConfig {
  const c: { -readonly [K in keyof TopicConfig]: TopicConfig[K] } = {
    dedupWindowMs: o.dedupWindowMs ?? QUEUE_DEFAULTS.dedupWindowMs,
  };
  if (o.maxAgeMs !== undefined) c.maxAgeMs = o.maxAgeMs;
  if (o.maxMessages !== undefined) c.maxMessages = o.maxMessages;
  if (o.maxBytes !== undefined) c.maxBytes = o.maxBytes;
  return c;
}

export function executeTopicCommand(state: BrokerState, cmd: TopicCommand, now: number): Result {
  switch (cmd.op) {
    case "topic_put":
      return putTopic(state, cmd.topic, cmd.options, now);
    case "topic_delete": {
      const t = state.topics.get(cmd.topic);
      if (t === undefined) return topicNotFound(cmd.topic);
      state.topics.delete(cmd.topic);
      state.byOrd.delete(t.ord);
      for (const s of t.subs.values()) state.byOrd.delete(s.ord);
      return { ok: true };
    }
    case "topic_publish": {
      const t = state.topics.get(cmd.topic);
      if (t === undefined) return topicNotFound(cmd.topic);
      const e = checkMessage(cmd.message);
      if (e) return invalid(e);
      return topicPublishOne(state, t, cmd.message, now);
    }
    case "topic_publish_batch": {
      const t = state.topics.get(cmd.topic);
      if (t === undefined) return topicNotFound(cmd.topic);
      const e = checkBatch(cmd.messages);
      if (e) return invalid(e);
      return { ok: true, results: cmd.messages.map((m) => topicPublishOne(state, t, m, now)) };
    }
    case "subscription_put":
      return putSubscription(state, cmd.topic, cmd.subscription, cmd.options, now);
    case "subscription_delete": {
      const s = findSubscription(state, cmd.topic, cmd.subscription);
      if (!(s instanceof Channel)) return s;
      state.topics.get(cmd.topic)!.subs.delete(cmd.subscription);
      state.byOrd.delete(s.ord);
      return { ok: true };
    }
  }
}

function putTopic(state: BrokerState, name: string, options: TopicOptions, now: number): Result {
  const e = checkName("topic", name) ?? checkTopicOptions(options);
  if (e) return invalid(e);
  const existing = state.topics.get(name);
  const config = resolveTopicConfig(options);
  if (existing !== undefined) {
    existing.config = config;
    existing.retain(now);
    return { ok: true, created: false, config };
  }
  const ord = state.nextOrd++;
  const t = new Topic(ord, name, config, state.host.schedule);
  state.topics.set(name, t);
  state.byOrd.set(ord, t);
  return { ok: true, created: true, config };
}

function putSubscription(
  state: BrokerState,
  topic: string,
  name: string,
  options: SubscriptionOptions,
  now: number,
): Result {
  const e = checkName("subscription", name) ?? checkSubscriptionOptions(options);
  if (e) return invalid(e);
  const t = state.topics.get(topic);
  if (t === undefined) return topicNotFound(topic);
  const { startAt, ...queueOptions } = options;
  const config = resolveQueueConfig(queueOptions);
  const existing = t.subs.get(name);
  if (existing !== undefined) {
    if (config.fifo !== existing.config.fifo) return invalid("fifo cannot change after creation");
    existing.config = config;
    return { ok: true, created: false, config, startSeq: existing.startSeq };
  }
  const first = t.log.first()?.seq ?? t.nextSeq;
  const startSeq = startAt === undefined || startAt === "latest"
    ? t.nextSeq
    : startAt === "earliest"
    ? first
    : startAt.seq;
  const ord = state.nextOrd++;
  const sub = new Channel(ord, `${topic}/${name}`, config, state.host);
  t.subs.set(name, sub);
  state.byOrd.set(ord, sub);
  t.backfill(sub, startSeq, now);
  return { ok: true, created: true, config, startSeq };
}

/** Publishes one checked message to a topic: dedup by id, then fan-out and retention. */
export function topicPublishOne(
  state: BrokerState,
  t: Topic,
  m: MessageInput,
  now: number,
): PublishOutcome {
  t.ids.expire(now);
  if (m.id !== undefined) {
    const rec = t.ids.lookup(m.id, now);
    if (rec !== undefined) return { ok: true, seq: rec.seq, id: m.id, duplicate: true };
  }
  const seq = t.nextSeq;
  const id = m.id ?? `${GENERATED_ID_PREFIX}${t.ord.toString(36)}.${seq.toString(36)}`;
  if (m.id !== undefined) t.ids.add(m.id, seq, now + t.config.dedupWindowMs);
  const { buf, off } = state.slab.store(m.body);
  const msg: TopicMsg = {
    seq,
    id,
    explicitId: m.id !== undefined,
    buf,
    off,
    len: m.body.length,
    headers: m.headers === undefined || Object.keys(m.headers).length === 0
      ? undefined
      : { ...m.headers },
    group: m.group,
    publishedAt: now,
    notBefore: now + (m.delayMs ?? 0),
    ttlAt: m.ttlMs === undefined ? Infinity : now + m.ttlMs,
  };
  t.append(msg, now);
  return { ok: true, seq, id, duplicate: false };
}
