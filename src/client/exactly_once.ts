/**
 * The exactly-once consumer: the handler returns the messages to publish, and the helper commits
 * them together with the ack in ONE transaction (`POST /v1/transactions`). Either the ack is
 * valid and every publish is applied, or nothing is (docs/design.md, promise 4). An ack whose lease
 * is over means another consumer got the message: our publishes did not happen, and we move on.
 *
 * @module
 */

import type { Client } from "./client.ts";
import {
  type ConsumeOptions,
  type ConsumeStats,
  runConsumer,
  type SuccessSettler,
} from "./consume.ts";
import { TransactionFailed } from "./errors.ts";
import type {
  ReceivedMessage,
  Source,
  Transaction,
  TransactionAck,
  TransactionPublish,
} from "./types.ts";

/** Returns the messages to publish atomically with the ack (an empty list just acks). */
export type ExactlyOnceHandler = (
  message: ReceivedMessage,
  context: { signal: AbortSignal },
) => TransactionPublish[] | void | Promise<TransactionPublish[] | void>;

/** Reasons meaning "this receipt no longer settles the message": someone else has it. */
const LOST_REASONS = new Set(["stale", "not_found", "already_acked"]);

/**
 * The transaction that settles `message`: its ack plus the handler's publishes. A publish without
 * an id gets `outputId(source, message.id, index)`, so the same output of a redelivered message
 * is deduplicated by the destination too.
 */
export function buildTransaction(
  source: Source,
  message: ReceivedMessage,
  publish: TransactionPublish[],
): Transaction {
  const ack: TransactionAck = typeof source === "string"
    ? { queue: source, receipt: message.receipt }
    : { ...source, receipt: message.receipt };
  return {
    ack: [ack],
    publish: publish.map((item, index) => ({
      ...item,
      id: item.id ?? outputId(source, message.id, index),
    })),
  };
}

/** The longest message id the broker takes. */
const ID_MAX = 256;

/**
 * The id of a handler's publish that names none: `<source>:<message id>:<index>`, the source
 * being the queue or `topic/subscription`. The source is in it because one id is not one message
 * across sources: a topic's message reaches every subscription with the same id, and two queues
 * may number their ids alike; without it, the second consumer's output to a shared destination was
 * taken as a duplicate of the first's and dropped. It never begins with `~` (the broker refuses
 * that for a publish; the ids the broker gives messages published without one begin so). Over
 * 256 characters, the end gives way to a hash of the whole.
 */
export function outputId(source: Source, messageId: string, index: number): string {
  const where = typeof source === "string"
    ? source
    : "queue" in source
    ? source.queue
    : `${source.topic}/${source.subscription}`;
  const id = `${where}:${messageId}:${index}`;
  return id.length <= ID_MAX ? id : `${id.slice(0, ID_MAX - 17)}#${hash64(id)}`;
}

/** Two 32-bit multiplicative hashes of `text` (FNV-1a, and one with Murmur's constant), in hex. */
function hash64(text: string): string {
  let a = 0x811c9dc5, b = 0x9747b28c;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
  }
  return a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0");
}

/** True when a failed transaction failed because its ack's lease was over. */
export function ackWasLost(error: TransactionFailed): boolean {
  return error.errors.some((item) => {
    if (typeof item !== "object" || item === null) return false;
    const fields = item as Record<string, unknown>;
    // The server names the item as `path: "publish[0]"` / `"ack[0]"`.
    const where = [fields.path, fields.item, fields.pointer, fields.kind].filter((v) =>
      typeof v === "string"
    );
    const isPublish = where.some((v) => (v as string).includes("publish"));
    if (isPublish) return false;
    return ["reason", "status", "type", "code"].some((name) =>
      LOST_REASONS.has(String(fields[name]))
    );
  });
}

/** Consumes `source` exactly once per message; see the module doc. */
export function consumeExactlyOnce(
  client: Client,
  source: Source,
  handler: ExactlyOnceHandler,
  options: ConsumeOptions = {},
): Promise<ConsumeStats> {
  const settler: SuccessSettler = async (message, result) => {
    const publish = Array.isArray(result) ? (result as TransactionPublish[]) : [];
    try {
      await client.transaction(buildTransaction(source, message, publish));
      return "acked";
    } catch (error) {
      if (error instanceof TransactionFailed && ackWasLost(error)) return "lost";
      throw error;
    }
  };
  return runConsumer(client, source, handler, settler, options);
}
