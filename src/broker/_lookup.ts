/**
 * Finding a queue, topic or subscription, and the failures that say which is missing. A leaf
 * (the broker state is only a type here). Folder-private.
 *
 * @module
 */

import type { Failure } from "./commands.ts";
import type { Channel } from "./_channel.ts";
import type { BrokerState } from "./state.ts";

export function queueNotFound(name: string): Failure {
  return { ok: false, reason: "queue_not_found", detail: `Queue ${name} does not exist` };
}

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
