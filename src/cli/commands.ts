/**
 * The everyday commands: `queues`, `create`, `delete`, `publish`, `consume`, `status`.
 *
 * @module
 */

import { Client, inexactNumber } from "../client/mod.ts";
import type { ParseArgsOptionsConfig } from "node:util";
import type {
  ClusterView,
  NewMessage,
  PublishResult,
  QueueConfig,
  ReceivedMessage,
  Source,
} from "../client/mod.ts";
import { type Command, type Context, UsageError, type Values } from "./command.ts";

/** The one positional argument a command needs. */
function need(positionals: string[], what: string): string {
  if (positionals.length === 0 || positionals[0] === "") throw new UsageError(`Missing ${what}`);
  return positionals[0];
}

/** An integer option, or undefined when absent. */
export function intOption(values: Values, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new UsageError(`--${name} must be a non-negative integer, got "${raw}"`);
  }
  return value;
}

/** Prints rows as aligned columns. */
export function table(context: Context, header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  for (const row of cells) {
    context.io.out(row.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
  }
}

const queues: Command = {
  name: "queues",
  summary: "list queues with their stats",
  usage: "queues [--json]",
  help: "Lists every queue: delivery mode and the ready, leased, delayed, acked counters.",
  options: {},
  async run(context) {
    const list = await context.client.listQueues();
    if (context.json) {
      context.io.out(JSON.stringify(list));
      return 0;
    }
    const n = (v: unknown) => (v === undefined ? "-" : String(v));
    table(
      context,
      ["QUEUE", "MODE", "READY", "LEASED", "DELAYED", "PUBLISHED", "ACKED", "DEAD"],
      list.map((q) => [
        n(q.name),
        n(q.deliveryMode),
        n(q.ready),
        n(q.leased),
        n(q.delayed),
        n(q.published),
        n(q.acked),
        n(q.deadLettered),
      ]),
    );
    return 0;
  },
};

const create: Command = {
  name: "create",
  summary: "create or update a queue",
  usage: "create <queue> [options]",
  help: `Creates a queue, or changes an existing one's config.

Options:
  --mode <m>               at_most_once | at_least_once | exactly_once
  --lease-ms <n>           default lease of a delivery
  --max-deliveries <n>     deliveries before dead-lettering
  --dead-letter <queue>    where messages go after --max-deliveries
  --dedup-window-ms <n>    how long message ids are remembered
  --fifo                   deliver one message per group at a time, in order
  --max-messages <n>       capacity in messages (queue_full beyond)
  --max-bytes <n>          capacity in bytes
  --ttl-ms <n>             message time to live`,
  options: {
    mode: { type: "string" },
    "lease-ms": { type: "string" },
    "max-deliveries": { type: "string" },
    "dead-letter": { type: "string" },
    "dedup-window-ms": { type: "string" },
    fifo: { type: "boolean" },
    "max-messages": { type: "string" },
    "max-bytes": { type: "string" },
    "ttl-ms": { type: "string" },
  },
  async run(context, values, positionals) {
    const name = need(positionals, "queue name");
    const modes = ["at_most_once", "at_least_once", "exactly_once"];
    if (values.mode !== undefined && !modes.includes(String(values.mode))) {
      throw new UsageError(`--mode must be one of ${modes.join(", ")}`);
    }
    const config: QueueConfig = {
      deliveryMode: values.mode as QueueConfig["deliveryMode"],
      leaseMs: intOption(values, "lease-ms"),
      maxDeliveries: intOption(values, "max-deliveries"),
      deadLetterQueue: values["dead-letter"] as string | undefined,
      dedupWindowMs: intOption(values, "dedup-window-ms"),
      fifo: values.fifo as boolean | undefined,
      maxMessages: intOption(values, "max-messages"),
      maxBytes: intOption(values, "max-bytes"),
      messageTtlMs: intOption(values, "ttl-ms"),
    };
    const defined = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined));
    const result = await context.client.createQueue(name, defined);
    context.io.out(
      context.json ? JSON.stringify(result) : `queue ${name}: ${JSON.stringify(result)}`,
    );
    return 0;
  },
};

const remove: Command = {
  name: "delete",
  summary: "delete a queue and its messages",
  usage: "delete <queue>",
  help: "Deletes a queue and every message in it.",
  options: {},
  async run(context, _values, positionals) {
    const name = need(positionals, "queue name");
    await context.client.deleteQueue(name);
    context.io.out(context.json ? JSON.stringify({ deleted: name }) : `queue ${name} deleted`);
    return 0;
  },
};

/**
 * A body from the command line: JSON when it parses (unless --raw), else the text itself. JSON
 * with a number its double would change (`12345678901234567890`, `1e400`) is refused: sent, it
 * would be another number (the server sees only the value).
 */
export function parseBody(text: string, raw: boolean): unknown {
  if (raw) return text;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return text;
  }
  const inexact = inexactNumber(text, json);
  if (inexact !== undefined) {
    throw new UsageError(
      `the body holds the number ${inexact.slice(0, 64)}, which JSON cannot carry exactly: ` +
        "quote it (a string), or send the body with --raw",
    );
  }
  return json;
}

/** The options of `publish` and `topic publish`, as the help text lists them. */
export const PUBLISH_HELP = `Options:
  --subject <s>      the subject subscriptions route by (orders.eu.created)
  --id <id>          the message id (one body only); default: a generated UUID
  --group <g>        the FIFO group
  --delay-ms <n>     deliver after this delay
  --header <k=v>     a header (repeatable)
  --raw              send bodies as strings, never as JSON
  --batch <n>        stdin lines per request (default 100)`;

export const PUBLISH_OPTIONS: ParseArgsOptionsConfig = {
  subject: { type: "string" },
  id: { type: "string" },
  group: { type: "string" },
  "delay-ms": { type: "string" },
  header: { type: "string", multiple: true },
  raw: { type: "boolean" },
  batch: { type: "string" },
};

/** Where `runPublish` sends: a queue's or a topic's publish calls. */
export interface PublishTo {
  one(message: NewMessage): Promise<PublishResult>;
  batch(messages: NewMessage[]): Promise<PublishResult[]>;
}

const publish: Command = {
  name: "publish",
  summary: "publish messages (arguments, or one per stdin line)",
  usage: "publish <queue> [body...] [options]",
  help: `Publishes each body argument as one message; with no body argument, publishes one message
per line of stdin (in batches of --batch). A body that parses as JSON is sent as JSON, otherwise as
a string. Prints the seq and id of each message. (To a topic: mq topic publish.)

${PUBLISH_HELP}`,
  options: PUBLISH_OPTIONS,
  run(context, values, positionals) {
    const queue = need(positionals, "queue name");
    return runPublish(context, values, positionals.slice(1), {
      one: (m) => context.client.publish(queue, m),
      batch: (ms) => context.client.publishBatch(queue, ms),
    });
  },
};

/** Publishes `bodies` (or stdin lines when none) with the options of `PUBLISH_OPTIONS`. */
export async function runPublish(
  context: Context,
  values: Values,
  bodies: string[],
  to: PublishTo,
): Promise<number> {
  if (values.id !== undefined && bodies.length !== 1) {
    throw new UsageError("--id needs exactly one body argument");
  }
  const headers: Record<string, string> = {};
  for (const pair of (values.header as string[] | undefined) ?? []) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new UsageError(`--header must be key=value, got "${pair}"`);
    headers[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const make = (text: string): NewMessage => ({
    body: parseBody(text, values.raw === true),
    id: values.id as string | undefined,
    group: values.group as string | undefined,
    subject: values.subject as string | undefined,
    delayMs: intOption(values, "delay-ms"),
    headers: Object.keys(headers).length > 0 ? headers : undefined,
  });
  const print = (r: { seq: number; id: string; duplicate: boolean }) =>
    context.io.out(
      context.json ? JSON.stringify(r) : `${r.seq}\t${r.id}${r.duplicate ? "\tduplicate" : ""}`,
    );
  if (bodies.length > 0) {
    const results = bodies.length === 1
      ? [await to.one(make(bodies[0]))]
      : await to.batch(bodies.map(make));
    results.forEach(print);
    return 0;
  }
  const batchSize = Math.max(1, intOption(values, "batch") ?? 100);
  let batch: NewMessage[] = [];
  const flush = async () => {
    if (batch.length > 0) (await to.batch(batch)).forEach(print);
    batch = [];
  };
  for await (const line of context.io.stdinLines()) {
    if (line === "") continue;
    batch.push(make(line));
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  return 0;
}

/** The bytes given to `--exec` on stdin: a string body as is, anything else as JSON. */
export function bodyBytes(body: unknown): Uint8Array {
  return new TextEncoder().encode(typeof body === "string" ? body : JSON.stringify(body));
}

export const consumeCommand: Command = {
  name: "consume",
  usesSession: () => true,
  summary: "consume messages: print them, or run a command per message",
  usage: "consume <queue | topic> [--subscription s] [options]",
  help: `Long-polls the queue (or a topic's subscription), prints each message and acks it. With
--exec, runs "sh -c <cmd>" per message with the body on stdin and QUORUMQ_MESSAGE_ID,
QUORUMQ_MESSAGE_SEQ, QUORUMQ_MESSAGE_ATTEMPT in its environment: exit 0 acks, anything else nacks
(redelivered after a backoff). Leases are extended while the command runs. Ctrl-C stops cleanly.

Options:
  --subscription <s>   consume the subscription <s> of the topic
  --exec <cmd>         run a command per message instead of printing
  --count <n>          stop after n messages
  --concurrency <n>    messages handled at once (default 1)
  --lease-ms <n>       lease per delivery, extended at half of it (default 30000)
  --wait-ms <n>        long-poll wait (default 20000)`,
  options: {
    subscription: { type: "string" },
    exec: { type: "string" },
    count: { type: "string" },
    concurrency: { type: "string" },
    "lease-ms": { type: "string" },
    "wait-ms": { type: "string" },
  },
  async run(context, values, positionals) {
    const name = need(positionals, "queue or topic name");
    const source: Source = values.subscription === undefined
      ? name
      : { topic: name, subscription: String(values.subscription) };
    const exec = values.exec as string | undefined;
    const handler = async (message: ReceivedMessage) => {
      if (exec === undefined) {
        context.io.out(
          context.json
            ? JSON.stringify(message)
            : `${message.seq}\t${message.id}\t${message.attempt}\t` +
              (message.subject ? `${message.subject}\t` : "") + JSON.stringify(message.body),
        );
        return;
      }
      const code = await context.io.exec(exec, bodyBytes(message.body), {
        QUORUMQ_MESSAGE_ID: message.id,
        QUORUMQ_MESSAGE_SEQ: String(message.seq),
        QUORUMQ_MESSAGE_ATTEMPT: String(message.attempt),
      });
      if (code !== 0) throw new Error(`Command exited with ${code} for message ${message.id}`);
    };
    const stats = await context.client.consume(source, handler, {
      concurrency: intOption(values, "concurrency"),
      leaseMs: intOption(values, "lease-ms"),
      waitMs: intOption(values, "wait-ms"),
      maxMessages: intOption(values, "count"),
      signal: context.io.signal,
      onError: (error, message) =>
        context.io.err(
          `mq: ${message ? `message ${message.id}: ` : ""}${(error as Error).message}\n`,
        ),
    });
    const summary = `received ${stats.received}, acked ${stats.acked}, nacked ${stats.nacked}, ` +
      `lost ${stats.lost}, errors ${stats.errors}`;
    if (context.json) context.io.err(JSON.stringify(stats) + "\n");
    else context.io.err(summary + "\n");
    return 0;
  },
};

const status: Command = {
  name: "status",
  summary: "cluster members, leader, term, commit index, lag per follower",
  usage: "status [--json]",
  help: `Shows the cluster as its leader sees it: each member's role, match index and lag behind the
commit index. Asks the leader directly when the first node that answers is a follower.`,
  options: {},
  async run(context) {
    let view = await context.client.cluster.view();
    const leader = view.members.find((m) => m.id === view.leaderId);
    if (leader && view.nodeId !== view.leaderId) {
      // Only the leader tracks its followers' match index (Raft §5.3).
      const direct = new Client({
        nodes: [leader.url],
        token: context.token,
        fetch: context.io.fetch,
        retry: { attempts: 2 },
      });
      view = await direct.cluster.view().catch(() => view);
    }
    if (context.json) {
      context.io.out(JSON.stringify({ ...view, lag: lagOf(view) }));
      return 0;
    }
    context.io.out(
      `leader ${view.leaderId || "(none)"}  term ${view.term}  commit ${view.commitIndex}  ` +
        `applied ${view.appliedIndex}  (answered by ${view.nodeId})`,
    );
    const lag = lagOf(view);
    table(
      context,
      ["ID", "ROLE", "URL", "MATCH", "LAG", "LAST CONTACT"],
      view.members.map((m) => [
        m.id,
        m.role,
        m.url,
        m.matchIndex ?? "-",
        lag[m.id] ?? "-",
        m.lastContactMs === undefined ? "-" : `${m.lastContactMs} ms`,
      ]),
    );
    return 0;
  },
};

/** Entries each member is behind the commit index (known only where match index is). */
export function lagOf(view: ClusterView): Record<string, number> {
  const lag: Record<string, number> = {};
  for (const member of view.members) {
    if (typeof member.matchIndex === "number") {
      lag[member.id] = Math.max(0, view.commitIndex - member.matchIndex);
    }
  }
  return lag;
}

/** Every command but `bench`. */
export const COMMANDS: Command[] = [queues, create, remove, publish, consumeCommand, status];
