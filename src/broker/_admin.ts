/**
 * Operator commands on a queue's stored messages: purge, and redrive of dead-lettered messages
 * back to the queue each came from. Both are replicated commands, deterministic like every
 * other: they read only the state and the entry time. Folder-private.
 *
 * @module
 */

import type { RedriveSkip, Result } from "./commands.ts";
import { type Channel, type Msg, MsgState } from "./_channel.ts";
import { queueNotFound } from "./_lookup.ts";
import { publishRefusal } from "./_publish.ts";
import { storeMessage } from "./_store.ts";
import type { BrokerState } from "./state.ts";
import { GENERATED_ID_PREFIX, invalid } from "./validate.ts";

/** Most messages one redrive moves (a "redrive all" of a larger queue is repeated). */
export const REDRIVE_MAX = 10_000;

/** The headers a dead-letter move adds; a redrive takes them off again. */
const ORIGIN = "x-quorumq-origin";
const DEAD_HEADERS = [ORIGIN, "x-quorumq-dead-reason", "x-quorumq-attempts"];

export function executePurge(state: BrokerState, queue: string): Result {
  const q = state.queues.get(queue);
  if (q === undefined) return queueNotFound(queue);
  return { ok: true, purged: q.purge() };
}

export function executeRedrive(
  state: BrokerState,
  queue: string,
  seqs: readonly number[] | undefined,
  now: number,
): Result {
  const dlq = state.queues.get(queue);
  if (dlq === undefined) return queueNotFound(queue);
  if (seqs !== undefined) {
    if (!Array.isArray(seqs) || seqs.length > REDRIVE_MAX) {
      return invalid(`seqs must be an array of at most ${REDRIVE_MAX} seqs`);
    }
    if (seqs.some((s) => !Number.isSafeInteger(s) || s < 1)) {
      return invalid("every seq must be a positive integer");
    }
  }
  const chosen: (Msg | number)[] = seqs === undefined
    ? firstMovable(dlq)
    : [...new Set(seqs)].map((s) => dlq.msgs.get(s) ?? s);
  const skipped: RedriveSkip[] = [];
  let redriven = 0;
  for (const m of chosen) {
    if (typeof m === "number") {
      skipped.push({ seq: m, reason: "not_found" });
      continue;
    }
    const reason = redriveOne(state, dlq, m, now);
    if (reason === undefined) redriven++;
    else skipped.push({ seq: m.seq, reason });
  }
  return { ok: true, redriven, skipped, remaining: dlq.nReady + dlq.nDelayed };
}

/** The first ready or delayed messages, at most `REDRIVE_MAX`. */
function firstMovable(q: Channel): Msg[] {
  const out: Msg[] = [];
  for (const m of q.msgs.values()) {
    if (out.length >= REDRIVE_MAX) break;
    if (m.state !== MsgState.Leased) out.push(m);
  }
  return out;
}

/** Moves one message to its origin queue; the reason when it cannot. */
function redriveOne(
  state: BrokerState,
  dlq: Channel,
  m: Msg,
  now: number,
): RedriveSkip["reason"] | undefined {
  if (m.state === MsgState.Leased) return "leased";
  const origin = m.headers?.[ORIGIN];
  if (origin === undefined) return "no_origin";
  const to = state.queues.get(origin);
  // A subscription's seqs are its topic's: a message cannot be put back into one.
  if (to === undefined || to === dlq) return "origin_not_found";
  if (publishRefusal(to, { id: m.id, body: new Uint8Array(m.len) }) !== undefined) {
    return "origin_full";
  }
  const headers = { ...m.headers };
  for (const h of DEAD_HEADERS) delete headers[h];
  // The id follows the message back, unless the origin has a live message of that id already.
  const known = to.ids.lookup(m.id, now);
  const explicit = !m.id.startsWith(GENERATED_ID_PREFIX) &&
    (known === undefined || known.state !== "live");
  dlq.take(m);
  storeMessage(to, {
    id: m.id,
    explicit,
    buf: m.buf,
    off: m.off,
    len: m.len,
    headers: Object.keys(headers).length === 0 ? undefined : headers,
    group: m.group,
    subject: m.subject,
    delayMs: 0,
    ttlMs: undefined,
  }, now);
  return undefined;
}
