/**
 * Topic and subscription commands. Folder-private.
 *
 * @module
 */

import type { Command, Result, SubscriptionOptions, TopicOptions } from "./commands.ts";
import { Channel } from "./_channel.ts";
import { Topic } from "./_topic.ts";
import type { BrokerState } from "./state.ts";
import { resolveSubscriptionConfig, resolveTopicConfig } from "./_config.ts";
import { findSubscription, topicNotFound } from "./_lookup.ts";
import { topicPublishOne } from "./_publish.ts";
import {
  checkBatch,
  checkMessage,
  checkName,
  checkSubscriptionOptions,
  checkTopicOptions,
  invalid,
  UNANSWERED,
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

/** Without `answers`, a publish answers `UNANSWERED` (see `executeCommand`). */
export function executeTopicCommand(
  state: BrokerState,
  cmd: TopicCommand,
  now: number,
  answers = true,
): Result {
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
      return topicPublishOne(state, t, cmd.message, now, answers);
    }
    case "topic_publish_batch": {
      const t = state.topics.get(cmd.topic);
      if (t === undefined) return topicNotFound(cmd.topic);
      const e = checkBatch(cmd.messages);
      if (e) return invalid(e);
      if (!answers) {
        for (const m of cmd.messages) topicPublishOne(state, t, m, now, false);
        return UNANSWERED;
      }
      return { ok: true, results: cmd.messages.map((m) => topicPublishOne(state, t, m, now)) };
    }
    case "subscription_put":
      return putSubscription(state, cmd.topic, cmd.subscription, cmd.options, now);
    case "subscription_delete": {
      const s = findSubscription(state, cmd.topic, cmd.subscription);
      if (!(s instanceof Channel)) return s;
      dropSubscription(state, state.topics.get(cmd.topic)!, cmd.subscription);
      return { ok: true };
    }
  }
}

/** Deletes a subscription of `t` with its messages; false when it has none of that name. */
export function dropSubscription(state: BrokerState, t: Topic, name: string): boolean {
  const s = t.subs.get(name);
  if (s === undefined) return false;
  t.subs.delete(name);
  t.routes.delete(s);
  t.unsubscribed(s);
  state.byOrd.delete(s.ord);
  return true;
}

function putTopic(state: BrokerState, name: string, options: TopicOptions, now: number): Result {
  const e = checkName("topic", name) ?? checkTopicOptions(options);
  if (e) return invalid(e);
  const existing = state.topics.get(name);
  const config = resolveTopicConfig(options);
  if (existing !== undefined) {
    existing.configure(config, now);
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
  const startAt = options.startAt;
  const config = resolveSubscriptionConfig(options);
  const existing = t.subs.get(name);
  if (existing !== undefined) {
    if (config.fifo !== existing.config.fifo) return invalid("fifo cannot change after creation");
    // New routing applies to messages published from now on; stored ones stay.
    existing.config = config;
    t.route(existing);
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
  sub.owner = t;
  t.subs.set(name, sub);
  t.route(sub);
  state.byOrd.set(ord, sub);
  t.backfill(sub, startSeq, now);
  return { ok: true, created: true, config, startSeq };
}
