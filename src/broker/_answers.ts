/**
 * Stored answers: what a session's repeated (id, seq), or a repeated Idempotency-Key, is answered
 * with. Stored compactly, because answers live as long as the client may still ask for them:
 *
 * - a receive keeps `[ord, seq, attempt]` per delivery, not its body: a repeat answers the
 *   deliveries whose lease that attempt still holds, rebuilt from the stored message (a delivery
 *   whose lease ended went back to the queue, and its receipt answers `stale`). Deliveries of an
 *   `at_most_once` channel are settled at delivery, so the answer is their only copy: kept whole.
 * - an ack, nack or extend keeps one status letter per receipt (and extend's lease ends); a
 *   repeat takes the receipts from the repeated command, which is the same command.
 * - anything else (publishes, refusals, transactions, queue and topic changes) is small: kept as
 *   it is.
 *
 * `answerBytes` is the deterministic size estimate the byte bounds count (every replica computes
 * the same). Folder-private.
 *
 * @module
 */

import type { Command, Delivery, ReceiptResult, ReceiptStatus, Result } from "./commands.ts";
import { Channel, decodeReceipt } from "./_channel.ts";
import { answerBytes } from "./_answer_bytes.ts";
export { answerBytes };
import type { Topic } from "./_topic.ts";

/** A receive's answer: held deliveries by reference, settled-at-delivery ones whole. */
export interface CompactReceive {
  readonly ok: true;
  /** `[ord, seq, attempt]` per delivery, flat. */
  readonly held: readonly number[];
  readonly whole: readonly Delivery[];
}

/** An ack/nack/extend answer: a status letter per receipt; extend's lease ends. */
export interface CompactSettle {
  readonly ok: true;
  readonly codes: string;
  readonly leases?: readonly number[];
}

/** What is stored: compact forms, or the result as it was (older snapshots hold only these). */
export type StoredAnswer = Result | CompactReceive | CompactSettle;

/** Status letters. Append-only: they are in snapshots. */
const STATUS_CODES: Readonly<Record<ReceiptStatus, string>> = {
  acked: "a",
  nacked: "n",
  extended: "e",
  already_acked: "A",
  stale: "s",
  not_found: "f",
};
const STATUS_BY_CODE = new Map(
  Object.entries(STATUS_CODES).map(([status, code]) => [code, status as ReceiptStatus]),
);

const RECEIVE_OPS = new Set(["receive", "subscription_receive"]);
const SETTLE_OPS = new Set([
  "ack",
  "nack",
  "extend",
  "subscription_ack",
  "subscription_nack",
  "subscription_extend",
]);

/** Where a receipt's channel is looked up by ordinal. */
export type ByOrd = ReadonlyMap<number, Channel | Topic>;

/**
 * The compact form of `result`, the answer to `cmd`, just applied (nothing applied since: a
 * receive's deliveries are then exactly as it left them).
 */
export function compactAnswer(cmd: Command, result: Result, byOrd: ByOrd): StoredAnswer {
  if (!result.ok) return result;
  if (cmd.op === "publish") {
    // `queuePublishOne`'s answer, `{ ok, seq, id, duplicate }`, kept as it is: its size from its
    // shape, not the generic walk over its keys (every session publish, on every node).
    return sized(result, publishBytes((result as { readonly id: string }).id));
  }
  if (RECEIVE_OPS.has(cmd.op) && "messages" in result) {
    return compactReceive(result.messages, byOrd);
  }
  if (SETTLE_OPS.has(cmd.op) && "results" in result) {
    const results = result.results as readonly ReceiptResult[];
    let codes = "";
    // A loop, not a flatMap: that made an array per receipt (a consumer's acks carry 1000).
    const leases: number[] = [];
    for (const r of results) {
      codes += STATUS_CODES[r.status];
      if (r.leaseExpiresAt !== undefined) leases.push(r.leaseExpiresAt);
    }
    const answer: CompactSettle = leases.length === 0
      ? { ok: true, codes }
      : { ok: true, codes, leases };
    return sized(answer, settleBytes(codes, leases.length));
  }
  return result;
}

/**
 * The last compact answer made and its `answerBytes`, worked out from its shape (a session stores
 * every answer it makes at once, and counts its bytes: the generic walk over a receive's numbers
 * and an object's keys was ~7% of a chaos log's replay). Only a cache: the very object, which
 * nothing changes once made.
 */
let sizedAnswer: StoredAnswer | undefined;
let sizedAnswerBytes = 0;

function sized<T extends StoredAnswer>(answer: T, bytes: number): T {
  sizedAnswer = answer;
  sizedAnswerBytes = bytes;
  return answer;
}

/** `answerBytes(answer)`, at once for the compact answer made last. */
export function storedAnswerBytes(answer: StoredAnswer): number {
  return answer === sizedAnswer ? sizedAnswerBytes : answerBytes(answer);
}

/**
 * `answerBytes` of `{ ok: true, held, whole }` with `held` numbers: the object 16, then per key
 * 8 + its length + its value's (`ok` a boolean 8; an array 16 + 8 per number).
 */
export function receiveBytes(heldNumbers: number, whole: readonly Delivery[]): number {
  return 16 + (8 + 2 + 8) + (8 + 4 + 16 + 8 * heldNumbers) + (8 + 5 + answerBytes(whole));
}

/**
 * `answerBytes` of a publish's answer `{ ok: true, seq, id, duplicate }`: the object 16, then per
 * key 8 + its length + its value's (a boolean or a number 8, the id 16 + its length).
 */
export function publishBytes(id: string): number {
  return 16 + (8 + 2 + 8) + (8 + 3 + 8) + (8 + 2 + 16 + id.length) + (8 + 9 + 8);
}

/** `answerBytes` of `{ ok: true, codes }`, with `leases` (that many numbers) when there are. */
export function settleBytes(codes: string, leases: number): number {
  const base = 16 + (8 + 2 + 8) + (8 + 5 + 16 + codes.length);
  return leases === 0 ? base : base + (8 + 6 + 16 + 8 * leases);
}

/**
 * A receive's deliveries, just made: held by reference while their attempt holds its lease, else
 * whole. Every delivery of one receive comes from one channel (the first receipt names it), and
 * a receive leaves each one leased by that very attempt, unless its channel settles at delivery
 * (`at_most_once`: the message is gone). So the channel's mode decides for all of them, the same
 * answer as asking the channel of each (`Channel.heldDelivery`), without a lookup, a receipt decoded
 * or a view made per delivery (every node, every receive in a session it applies).
 */
function compactReceive(deliveries: readonly Delivery[], byOrd: ByOrd): CompactReceive {
  const held: number[] = [];
  const whole: Delivery[] = [];
  const ref = deliveries.length === 0 ? undefined : decodeReceipt(deliveries[0].receipt);
  const ch = ref === undefined ? undefined : byOrd.get(ref.ord);
  if (ref === undefined || !(ch instanceof Channel) || ch.config.deliveryMode === "at_most_once") {
    whole.push(...deliveries);
  } else {
    for (const d of deliveries) held.push(ref.ord, d.seq, d.attempt);
  }
  return sized({ ok: true, held, whole }, receiveBytes(held.length, whole));
}

/** The answer a repeat of `cmd` gets from `stored`, as of now. */
export function expandAnswer(cmd: Command, stored: StoredAnswer, byOrd: ByOrd): Result {
  if ("held" in stored) {
    const messages: Delivery[] = [];
    for (let i = 0; i + 2 < stored.held.length; i += 3) {
      const ch = byOrd.get(stored.held[i]);
      const d = ch instanceof Channel
        ? ch.heldDelivery(stored.held[i + 1], stored.held[i + 2])
        : undefined;
      if (d !== undefined) messages.push(d);
    }
    return { ok: true, messages: [...messages, ...stored.whole] };
  }
  if ("codes" in stored) {
    const receipts = "receipts" in cmd ? cmd.receipts : [];
    let lease = 0;
    const results = receipts.map((receipt, i): ReceiptResult => {
      const status = STATUS_BY_CODE.get(stored.codes[i]) ?? "not_found";
      return status === "extended"
        ? { receipt, status, leaseExpiresAt: stored.leases?.[lease++] ?? 0 }
        : { receipt, status };
    });
    return { ok: true, results };
  }
  return stored;
}

/** Whether `cmd` can be the command `stored` answered (the same op, as many receipts). */
export function answers(cmd: Command, stored: StoredAnswer): boolean {
  if ("codes" in stored) return "receipts" in cmd && cmd.receipts.length === stored.codes.length;
  return true;
}
