/**
 * Publishing one checked message to a queue or a topic: dedup by id, limits, storage. Shared by
 * single publishes, batches and transactions. Folder-private.
 *
 * @module
 */

import type { Failure, MessageInput, PublishOutcome } from "./commands.ts";
import type { Channel } from "./_channel.ts";
import type { Topic, TopicMsg } from "./_topic.ts";
import type { BrokerState } from "./state.ts";
import { storeFields } from "./_store.ts";
import { ANY_MESSAGE, fingerprint, SLOT_TTL_MS } from "./_claims.ts";
import { invalid, UNANSWERED } from "./validate.ts";
import { storedHeaders } from "./_shared_headers.ts";

/** Why a new message would not fit, or undefined. `extra*`: already promised in a transaction. */
export function publishRefusal(
  q: Channel,
  m: MessageInput,
  extraCount = 0,
  extraBytes = 0,
): Failure | undefined {
  if (m.id === undefined && q.config.deliveryMode === "exactly_once") {
    return invalid(`Queue ${q.origin} is exactly_once: a publish must carry an id`);
  }
  const { maxMessages, maxBytes } = q.config;
  if (
    (maxMessages !== undefined && q.msgs.count + extraCount + 1 > maxMessages) ||
    (maxBytes !== undefined && q.bytes + extraBytes + m.body.length > maxBytes)
  ) {
    return { ok: false, reason: "queue_full", detail: `Queue ${q.origin} is full` };
  }
  return undefined;
}

/**
 * Publishes one checked message to a queue: a duplicate id answers the original seq. Without
 * `answer` a success answers `UNANSWERED` (nobody reads it: an object per message less).
 */
export function queuePublishOne(
  state: BrokerState,
  q: Channel,
  m: MessageInput,
  now: number,
  answer = true,
): PublishOutcome {
  if (m.retain !== undefined || m.once !== undefined) {
    return invalid("retain and once are for topic publishes only");
  }
  q.ids.expire(now);
  if (m.id !== undefined) {
    const rec = q.ids.lookup(m.id, now);
    if (rec !== undefined) {
      return answer ? { ok: true, seq: rec.seq, id: m.id, duplicate: true } : NOT_READ;
    }
  }
  const refusal = publishRefusal(q, m);
  if (refusal) return refusal;
  const off = state.slab.put(m.body);
  const seq = q.nextSeq; // where `storeFields` stores it
  const id = storeFields(
    q,
    m.id,
    m.id !== undefined,
    state.slab.lastBuf,
    off,
    m.body.length,
    storedHeaders(m.headers),
    m.group,
    m.subject,
    m.delayMs ?? 0,
    m.ttlMs,
    now,
  );
  return answer ? { ok: true, seq, id, duplicate: false } : NOT_READ;
}

/**
 * Why topic `t` would not keep message `m` until a subscription could have it, or undefined:
 * retention would drop it first, from the log and from every subscription, after its publish
 * answered its seq (and its id would make every retry a duplicate). A body larger than the
 * topic's `maxBytes` is dropped in the very publish; a delay of `maxAgeMs` or more ends after
 * the age retention (at the same time, the topic's event runs first).
 */
export function topicPublishRefusal(t: Topic, m: MessageInput): Failure | undefined {
  const { maxBytes, maxAgeMs } = t.config;
  if (maxBytes !== undefined && m.body.length > maxBytes) {
    return invalid(
      `Topic ${t.name} keeps at most ${maxBytes} bytes (maxBytes): a message of ` +
        `${m.body.length} bytes would be dropped as soon as it was published`,
    );
  }
  if (maxAgeMs !== undefined && m.delayMs !== undefined && m.delayMs >= maxAgeMs) {
    return invalid(
      `Topic ${t.name} keeps a message ${maxAgeMs} ms (maxAgeMs): a delay of ${m.delayMs} ms ` +
        "would end after it was dropped",
    );
  }
  return undefined;
}

/**
 * Refused `session_moved` unless `holder` holds the claim `key` of `t` now: a write of a
 * connection whose session another one took (or that was released) is a late retry of a
 * connection that has ended, and must change nothing (test/chaos/FINDINGS.md, F11). Before any
 * other check, so it is neither applied nor answered as a duplicate; every replica decides it
 * alike from the claim's holder, which snapshots hold.
 */
export function sessionMoved(t: Topic, key: string, holder: string): Failure | undefined {
  const now = t.claims.byKey.get(key)?.holder ?? null;
  if (now === holder) return undefined;
  return {
    ok: false,
    reason: "session_moved",
    detail: `Topic ${t.name}: claim ${key} is ${now === null ? "not held" : "held by another"}; ` +
      "nothing applied",
  };
}

/** `UNANSWERED` where a publish's outcome goes. */
const NOT_READ = UNANSWERED as PublishOutcome;

/**
 * Publishes one checked message to a topic: dedup by id, then fan-out and retention. Without
 * `answer` a success answers `UNANSWERED`.
 */
export function topicPublishOne(
  state: BrokerState,
  t: Topic,
  m: MessageInput,
  now: number,
  answer = true,
): PublishOutcome {
  if (m.once?.holder !== undefined) {
    const moved = sessionMoved(t, m.once.claim, m.once.holder);
    if (moved !== undefined) return moved;
  }
  t.ids.expire(now);
  if (m.id !== undefined) {
    const rec = t.ids.lookup(m.id, now);
    if (rec !== undefined) {
      return answer ? { ok: true, seq: rec.seq, id: m.id, duplicate: true } : NOT_READ;
    }
  }
  // Once per slot: the same message again (subject and body) under a held slot is a duplicate;
  // another one means the client moved on (its session ended before PUBREL), and takes it.
  const fp = m.once === undefined ? 0 : fingerprint(m.subject, m.body);
  if (m.once !== undefined) {
    const held = t.claims.slot(m.once.claim, m.once.slot, now);
    if (held !== undefined && (held.fp === fp || held.fp === ANY_MESSAGE)) {
      return answer ? { ok: true, seq: held.seq, id: held.id, duplicate: true } : NOT_READ;
    }
  }
  const refusal = topicPublishRefusal(t, m);
  if (refusal !== undefined) return refusal;
  if (m.retain === "set") {
    const full = t.retained.refusal(m.subject!, m.body.length, t.config, now);
    if (full !== undefined) {
      return { ok: false, reason: "retained_full", detail: `Topic ${t.name}: ${full}` };
    }
  }
  const seq = t.nextSeq;
  const id = m.id ?? t.generatedId(seq);
  if (m.id !== undefined) t.ids.add(m.id, seq, now + t.config.dedupWindowMs);
  const off = state.slab.put(m.body);
  const msg: TopicMsg = {
    seq,
    id,
    explicitId: m.id !== undefined,
    buf: state.slab.lastBuf,
    off,
    len: m.body.length,
    headers: storedHeaders(m.headers),
    group: m.group,
    subject: m.subject,
    publishedAt: now,
    notBefore: now + (m.delayMs ?? 0),
    ttlAt: m.ttlMs === undefined ? Infinity : now + m.ttlMs,
    routed: undefined,
    holders: 0,
  };
  t.append(msg, now);
  if (m.once !== undefined) {
    t.claims.hold(m.once.claim, m.once.slot, { seq, id, fp, expiresAt: now + SLOT_TTL_MS });
  }
  if (m.retain === "clear") t.retained.clear(m.subject!);
  else if (m.retain === "set") {
    t.retained.set(m.subject!, {
      seq,
      id,
      body: m.body.slice(),
      headers: msg.headers,
      publishedAt: now,
      ttlAt: msg.ttlAt,
    });
  }
  return answer ? { ok: true, seq, id, duplicate: false } : NOT_READ;
}
