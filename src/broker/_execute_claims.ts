/**
 * `claim_take` and `claim_release` (see `_claims.ts`), and the end of a released claim with the
 * subscriptions it owns. Folder-private.
 *
 * @module
 */

import type { Command, Failure, ReceiptResult, Result } from "./commands.ts";
import { type Channel, decodeReceipt } from "./_channel.ts";
import type { TimedEvent } from "./_structs.ts";
import type { Topic } from "./_topic.ts";
import type { BrokerState } from "./state.ts";
import { dropSubscription } from "./_execute_topic.ts";
import { topicNotFound } from "./_lookup.ts";
import {
  checkHolder,
  checkInt,
  checkName,
  checkReceipts,
  DURATION_MS_MAX,
  invalid,
} from "./validate.ts";
import { findSubscription } from "./_lookup.ts";
import { SLOT_MAX } from "./_claims.ts";
import { sessionMoved } from "./_publish.ts";

type ClaimCommand = Extract<
  Command,
  { op: "claim_take" | "claim_release" | "claim_free" | "claim_settle" }
>;

/** Longest data text, and most owned subscriptions of a claim. */
const DATA_MAX = 16_384;
const OWNED_MAX = 8;
/** Most slots one `claim_free` names. */
const FREE_MAX = 1000;

function check(cmd: ClaimCommand): string | undefined {
  if (cmd.op === "claim_free" || cmd.op === "claim_settle") {
    const bad = checkName("claim", cmd.key) ??
      (cmd.holder === undefined ? undefined : checkHolder("holder", cmd.holder)) ??
      (cmd.op === "claim_settle"
        ? checkName("subscription", cmd.subscription) ?? checkReceipts(cmd.receipts)
        : undefined);
    if (bad) return bad;
    const lists = cmd.op === "claim_free" ? [cmd.slots, cmd.pubrels ?? []] : [cmd.hold];
    for (const list of lists) {
      if (!Array.isArray(list) || list.length > FREE_MAX) {
        return `slots, pubrels and hold are lists of at most ${FREE_MAX}`;
      }
      const e = list.map((s) => checkInt("slot", s, 1, SLOT_MAX)).find((x) => x !== undefined);
      if (e) return e;
    }
    return undefined;
  }
  const e = checkName("claim", cmd.key) ??
    checkInt("expireMs", cmd.expireMs, 0, DURATION_MS_MAX);
  if (e) return e;
  const h = checkHolder("holder", cmd.holder);
  if (h) return h;
  if (cmd.op === "claim_release") return undefined;
  if (cmd.ifHeld !== undefined && typeof cmd.ifHeld !== "boolean") {
    return "ifHeld must be a boolean";
  }
  if (cmd.data !== undefined && (typeof cmd.data !== "string" || cmd.data.length > DATA_MAX)) {
    return `data must be a string of at most ${DATA_MAX} characters`;
  }
  const subs = cmd.subscriptions;
  if (subs !== undefined) {
    if (!Array.isArray(subs) || subs.length > OWNED_MAX) {
      return `subscriptions must be a list of at most ${OWNED_MAX} names`;
    }
    for (const s of subs) {
      const bad = checkName("subscription", s);
      if (bad) return bad;
    }
  }
  return undefined;
}

export function executeClaimCommand(state: BrokerState, cmd: ClaimCommand, now: number): Result {
  const e = check(cmd);
  if (e) return invalid(e);
  const t = state.topics.get(cmd.topic);
  if (t === undefined) return topicNotFound(cmd.topic);
  const fenced = cmd.op === "claim_take" ? cmd.ifHeld === true : cmd.op !== "claim_release";
  if (fenced && cmd.holder !== undefined) {
    // A late retry of a connection that ended frees nothing and settles nothing: its packet ids
    // may carry the new connection's messages by now (`sessionMoved`); nor does its update of
    // its own session (`ifHeld`) take the session back from the connection that took it.
    const moved = sessionMoved(t, cmd.key, cmd.holder);
    if (moved !== undefined) return moved;
  }
  if (cmd.op === "claim_free") {
    const c = t.claims.byKey.get(cmd.key);
    let freed = 0;
    for (const s of cmd.slots) if (t.claims.free(cmd.key, s)) freed++;
    for (const p of cmd.pubrels ?? []) if (c?.pubrels.delete(p)) freed++;
    return { ok: true, freed };
  }
  if (cmd.op === "claim_settle") {
    const ch = t.subs.get(cmd.subscription);
    if (ch === undefined) return findSubscription(state, cmd.topic, cmd.subscription) as Failure;
    const c = t.claims.byKey.get(cmd.key);
    // Past a lease only on the claim's own subscriptions (an MQTT session's, which its one
    // connection receives from); any other keeps its receipts fenced, as `ack` does.
    const owned = c !== undefined && c.subscriptions.includes(cmd.subscription);
    const results = settleReceipts(ch, cmd.receipts, owned, now);
    for (const p of cmd.hold) c?.pubrels.add(p);
    return { ok: true, results, kept: c !== undefined };
  }
  t.claims.touch(cmd.key);
  return cmd.op === "claim_take" ? take(state, t, cmd, now) : release(state, t, cmd, now);
}

/**
 * Acks each receipt's message as `ack` does, and, on a subscription the claim owns (`owned`),
 * also one whose lease ended since (it is ready again, delayed, or leased anew: "stale"): a
 * settle is the client's PUBREC, it has the message. Left there, it was delivered again after
 * PUBCOMP freed its packet id, and the client took it as a second message. A receipt of another
 * channel or an unknown seq acks nothing, as before.
 */
function settleReceipts(
  ch: Channel,
  receipts: readonly string[],
  owned: boolean,
  now: number,
): ReceiptResult[] {
  return receipts.map((receipt) => {
    const v = ch.resolve(receipt, now);
    const m = v.ok
      ? v.m
      : owned && v.status === "stale"
      ? ch.msgs.get(decodeReceipt(receipt)!.seq)
      : undefined;
    if (m === undefined) return { receipt, status: v.ok ? "acked" : v.status };
    ch.ackResolved(m);
    return { receipt, status: "acked" };
  });
}

function take(
  state: BrokerState,
  t: Topic,
  cmd: Extract<ClaimCommand, { op: "claim_take" }>,
  _now: number,
): Result {
  let c = t.claims.byKey.get(cmd.key);
  const previous = c?.holder ?? null;
  let present = c !== undefined;
  if (c !== undefined && cmd.fresh === true && previous !== cmd.holder) {
    end(state, t, cmd.key);
    c = undefined;
    present = false;
  }
  c ??= t.claims.create(cmd.key, cmd.holder);
  c.holder = cmd.holder;
  c.stamp = t.claims.nextNo++;
  c.endAt = Infinity; // taken again: its pending end is moot
  if (cmd.subscriptions !== undefined) c.subscriptions = [...cmd.subscriptions];
  if (cmd.expireMs !== undefined) c.expireMs = cmd.expireMs;
  if (cmd.data !== undefined) c.data = cmd.data;
  return {
    ok: true,
    previous,
    present,
    data: c.data ?? null,
    stamp: c.stamp,
    pubrels: [...c.pubrels],
  };
}

function release(
  state: BrokerState,
  t: Topic,
  cmd: Extract<ClaimCommand, { op: "claim_release" }>,
  now: number,
): Result {
  const c = t.claims.byKey.get(cmd.key);
  if (c === undefined || c.holder !== cmd.holder) return { ok: true, released: false };
  const expireMs = cmd.expireMs ?? c.expireMs;
  if (expireMs === 0) {
    end(state, t, cmd.key);
    return { ok: true, released: true };
  }
  c.holder = null;
  c.endAt = expireMs === undefined ? Infinity : now + expireMs;
  t.claims.scheduleEnd(c);
  return { ok: true, released: true };
}

/** A released claim's expiry came: it ends with its subscriptions, unless taken again. */
export function onClaimEvent(state: BrokerState, t: Topic, e: TimedEvent): void {
  const due = t.claims.due(e);
  if (due === undefined) return;
  t.claims.touch(due.key);
  end(state, t, due.key);
}

function end(state: BrokerState, t: Topic, key: string): void {
  const c = t.claims.byKey.get(key);
  if (c === undefined) return;
  for (const s of c.subscriptions) dropSubscription(state, t, s);
  t.claims.delete(key);
}
