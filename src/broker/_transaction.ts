/**
 * Transactions: acks and publishes applied all or nothing. Everything is checked first without
 * mutating; only when every item would succeed are they applied, in order (acks, then
 * publishes). Folder-private.
 *
 * @module
 */

import type {
  Command,
  ItemError,
  MessageInput,
  PublishOutcome,
  ReceiptResult,
  Result,
} from "./commands.ts";
import { Channel, type Msg } from "./_channel.ts";
import type { Topic } from "./_topic.ts";
import { RetainedTable } from "./_retained.ts";
import type { BrokerState } from "./state.ts";
import { findSubscription, queueNotFound, topicNotFound } from "./_lookup.ts";
import {
  publishRefusal,
  queuePublishOne,
  topicPublishOne,
  topicPublishRefusal,
} from "./_publish.ts";
import { checkMessage, invalid, RECEIVE_MAX } from "./validate.ts";

type TransactionCommand = Extract<Command, { op: "transaction" }>;

/** Most items (acks + publishes) in one transaction. */
export const TRANSACTION_ITEMS_MAX = RECEIVE_MAX;

export function executeTransaction(
  state: BrokerState,
  cmd: TransactionCommand,
  now: number,
): Result {
  const acks = cmd.ack ?? [];
  const publishes = cmd.publish ?? [];
  if (!Array.isArray(acks) || !Array.isArray(publishes)) {
    return invalid("ack and publish must be lists");
  }
  if (acks.length + publishes.length === 0) return invalid("a transaction needs an item");
  if (acks.length + publishes.length > TRANSACTION_ITEMS_MAX) {
    return invalid(`a transaction holds at most ${TRANSACTION_ITEMS_MAX} items`);
  }
  const errors: ItemError[] = [];
  const toAck = checkAcks(state, cmd, now, errors);
  const targets = checkPublishes(state, cmd, now, errors, toAck);
  if (errors.length > 0) {
    return {
      ok: false,
      reason: "transaction_aborted",
      detail: `Transaction refused: ${errors.length} item(s) cannot be applied; nothing was`,
      errors,
    };
  }
  const ackResults: ReceiptResult[] = toAck.map(([ch, m], i) => {
    ch.ackResolved(m);
    return { receipt: acks[i].receipt, status: "acked" };
  });
  const publishResults: PublishOutcome[] = publishes.map((p, i) => {
    const target = targets[i];
    const r = target instanceof Channel
      ? queuePublishOne(state, target, p, now)
      : topicPublishOne(state, target, p, now);
    // Checked above: a refusal here means the check and the apply disagree.
    if (!r.ok) throw new Error(`Cannot apply transaction publish[${i}]: ${r.detail}`);
    return r;
  });
  return { ok: true, ack: ackResults, publish: publishResults };
}

function checkAcks(
  state: BrokerState,
  cmd: TransactionCommand,
  now: number,
  errors: ItemError[],
): [Channel, Msg][] {
  const out: [Channel, Msg][] = [];
  const acks = cmd.ack ?? [];
  // By channel ordinal and seq: a stored message is a view made per lookup, not one object. A
  // lone ack (a mover's usual transaction) cannot repeat one: no set, no key made.
  const seen = acks.length > 1 ? new Set<string>() : undefined;
  // A loop, and each item's name made only for an error: every node applies every transaction.
  for (let i = 0; i < acks.length; i++) {
    if (!(i in acks)) continue; // a hole: skipped, as forEach did
    const a = acks[i];
    if (typeof a !== "object" || a === null || typeof a.receipt !== "string") {
      errors.push({
        item: `ack[${i}]`,
        reason: "invalid_request",
        detail: "an ack needs a receipt",
      });
      continue;
    }
    const ch = "queue" in a
      ? state.queues.get(a.queue) ?? queueNotFound(a.queue)
      : findSubscription(state, a.topic, a.subscription);
    if (!(ch instanceof Channel)) {
      errors.push({ item: `ack[${i}]`, reason: ch.reason, detail: ch.detail });
      continue;
    }
    const v = ch.resolve(a.receipt, now);
    const key = seen === undefined || !v.ok ? "" : `${ch.ord}.${v.m.seq}`;
    if (!v.ok) {
      errors.push({
        item: `ack[${i}]`,
        reason: v.status,
        detail: `Receipt ${a.receipt} is ${v.status}`,
      });
    } else if (seen?.has(key)) {
      errors.push({
        item: `ack[${i}]`,
        reason: "invalid_request",
        detail: "the same message is acked twice",
      });
    } else {
      seen?.add(key);
      out.push([ch, v.m]);
    }
  }
  return out;
}

function checkPublishes(
  state: BrokerState,
  cmd: TransactionCommand,
  now: number,
  errors: ItemError[],
  acked: readonly [Channel, Msg][],
): (Channel | Topic)[] {
  const out: (Channel | Topic)[] = [];
  // Messages this transaction already adds to each queue (less those its acks take out first:
  // a full queue's consumer may ack a message and publish the next step to it), and ids it
  // already publishes.
  const extra = new Map<Channel, { count: number; bytes: number; ids: Set<string> }>();
  for (const [ch, m] of acked) {
    let x = extra.get(ch);
    if (x === undefined) extra.set(ch, x = { count: 0, bytes: 0, ids: new Set() });
    x.count--;
    x.bytes -= m.len;
  }
  // Per topic: the ids this transaction publishes, and its retained messages as the earlier
  // items leave them (a copy), so a `retain: "set"` that would pass the caps is refused here.
  // Found only at apply, it threw there: on every replica, after the acks had been applied.
  const topics = new Map<Topic, { ids: Set<string>; retained?: RetainedTable }>();
  (cmd.publish ?? []).forEach((p, i) => {
    const bad = typeof p !== "object" || p === null
      ? "a publish must be an object"
      : checkMessage(p) ??
        ("queue" in p && p.retain !== undefined
          ? "retain is for topic publishes only"
          : undefined) ??
        (p.once !== undefined ? "once is not for transactions" : undefined);
    if (bad) {
      errors.push({ item: `publish[${i}]`, reason: "invalid_request", detail: bad });
      return;
    }
    if (!("queue" in p)) {
      const t = state.topics.get(p.topic);
      if (t === undefined) {
        errors.push({ item: `publish[${i}]`, ...topicNotFound(p.topic) });
        return;
      }
      out[i] = t;
      let x = topics.get(t);
      if (x === undefined) topics.set(t, x = { ids: new Set() });
      // A duplicate id is answered before its retain is looked at, as `topicPublishOne` does.
      if (p.id !== undefined && (t.ids.lookup(p.id, now) !== undefined || x.ids.has(p.id))) return;
      const refused = topicPublishRefusal(t, p);
      if (refused !== undefined) {
        errors.push({ item: `publish[${i}]`, reason: refused.reason, detail: refused.detail });
        return;
      }
      if (p.id !== undefined) x.ids.add(p.id);
      const full = retainRefusal(t, x, p, now);
      if (full !== undefined) {
        errors.push({ item: `publish[${i}]`, reason: "retained_full", detail: full });
      }
      return;
    }
    const q = state.queues.get(p.queue);
    if (q === undefined) {
      errors.push({ item: `publish[${i}]`, ...queueNotFound(p.queue) });
      return;
    }
    out[i] = q;
    let x = extra.get(q);
    if (x === undefined) extra.set(q, x = { count: 0, bytes: 0, ids: new Set() });
    if (p.id !== undefined && (q.ids.lookup(p.id, now) !== undefined || x.ids.has(p.id))) return;
    const refusal = publishRefusal(q, p, x.count, x.bytes);
    if (refusal) {
      errors.push({ item: `publish[${i}]`, reason: refusal.reason, detail: refusal.detail });
      return;
    }
    x.count++;
    x.bytes += p.body.length;
    if (p.id !== undefined) x.ids.add(p.id);
  });
  return out;
}

/**
 * Why a topic publish's `retain` would not fit the topic's caps after the transaction's earlier
 * items, or undefined; records its effect on the copy `x.retained` for the items after it.
 */
function retainRefusal(
  t: Topic,
  x: { retained?: RetainedTable },
  p: MessageInput,
  now: number,
): string | undefined {
  if (p.retain === undefined || p.subject === undefined) return undefined;
  if (x.retained === undefined) {
    x.retained = new RetainedTable();
    for (const [subject, m] of t.retained.bySubject) x.retained.set(subject, m);
  }
  if (p.retain === "clear") {
    x.retained.clear(p.subject);
    return undefined;
  }
  const full = x.retained.refusal(p.subject, p.body.length, t.config, now);
  if (full !== undefined) return `Topic ${t.name}: ${full}`;
  x.retained.set(p.subject, {
    seq: 0,
    id: "",
    body: p.body,
    headers: undefined,
    publishedAt: now,
    ttlAt: p.ttlMs === undefined ? Infinity : now + p.ttlMs,
  });
  return undefined;
}
