/**
 * `mq topic create|publish|read|delete` and `mq sub create|consume|delete`: topics with subjects,
 * and subscriptions with filters and header conditions.
 *
 * @module
 */

import type { HeaderMatch, SubscriptionConfig, TopicConfig } from "../client/mod.ts";
import { type Command, type Context, UsageError, type Values } from "./command.ts";
import {
  consumeCommand,
  intOption,
  PUBLISH_HELP,
  PUBLISH_OPTIONS,
  runPublish,
  table,
} from "./commands.ts";

/** The action word and the names after it; `need` names make the usage error. */
function action(positionals: string[], need: string[]): { verb: string; names: string[] } {
  const [verb, ...rest] = positionals;
  for (let i = 0; i < need.length; i++) {
    if (rest[i] === undefined || rest[i] === "") throw new UsageError(`Missing ${need[i]}`);
  }
  return { verb, names: rest };
}

/** Leaves out absent options, so the server fills in its defaults. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const TOPIC_HELP = `Actions:
  create <topic>                  create or update a topic
      --max-age-ms <n>  --max-messages <n>  --max-bytes <n>  --dedup-window-ms <n>
  publish <topic> [body...]       publish (bodies as arguments, or one per stdin line)
  read <topic>                    print the retained log: seq, subject, id, body
      --from-seq <n>    where to start (default: the first retained)
      --limit <n>       at most this many messages (default 100)
      --subject <p>     only subjects matching the pattern (orders.*.created, orders.>)
  delete <topic>                  delete a topic and its subscriptions

publish ${PUBLISH_HELP}`;

const topic: Command = {
  name: "topic",
  summary: "topics: create, publish (with --subject), read (with --subject), delete",
  usage: "topic <create|publish|read|delete> <topic> [options]",
  help: TOPIC_HELP,
  options: {
    ...PUBLISH_OPTIONS,
    "max-age-ms": { type: "string" },
    "max-messages": { type: "string" },
    "max-bytes": { type: "string" },
    "dedup-window-ms": { type: "string" },
    "from-seq": { type: "string" },
    limit: { type: "string" },
  },
  async run(context, values, positionals) {
    const { verb, names } = action(positionals, ["topic name"]);
    const name = names[0];
    if (name === undefined) throw new UsageError("Missing topic name");
    const client = context.client;
    switch (verb) {
      case "create": {
        const config: TopicConfig = defined({
          maxAgeMs: intOption(values, "max-age-ms"),
          maxMessages: intOption(values, "max-messages"),
          maxBytes: intOption(values, "max-bytes"),
          dedupWindowMs: intOption(values, "dedup-window-ms"),
        });
        const result = await client.topics.create(name, config);
        say(context, result, `topic ${name}: ${JSON.stringify(result)}`);
        return 0;
      }
      case "publish":
        return await runPublish(context, values, names.slice(1), {
          one: (m) => client.topics.publish(name, m),
          batch: (ms) => client.topics.publishBatch(name, ms),
        });
      case "read":
        return await readTopic(context, name, values);
      case "delete":
        await client.topics.delete(name);
        say(context, { deleted: name }, `topic ${name} deleted`);
        return 0;
      default:
        throw new UsageError(`Unknown action "${verb ?? ""}": create, publish, read or delete`);
    }
  },
};

function say(context: Context, json: unknown, text: string): void {
  context.io.out(context.json ? JSON.stringify(json) : text);
}

async function readTopic(context: Context, name: string, values: Values): Promise<number> {
  const page = await context.client.topics.readPage(name, {
    fromSeq: intOption(values, "from-seq"),
    limit: intOption(values, "limit"),
    subject: values.subject as string | undefined,
  });
  if (context.json) {
    for (const m of page.messages) context.io.out(JSON.stringify(m));
  } else {
    table(
      context,
      ["SEQ", "SUBJECT", "ID", "BODY"],
      page.messages.map((m) => [m.seq, m.subject ?? "-", m.id, JSON.stringify(m.body)]),
    );
  }
  // Where to go on (--from-seq), on stderr so the table stays clean for a pipe.
  context.io.err(`next: --from-seq ${page.nextSeq}\n`);
  return 0;
}

/** `--match k=v` (equal), `--match k` (present), `--match '!k'` (absent). */
export function headerConditions(list: string[]): HeaderMatch | undefined {
  if (list.length === 0) return undefined;
  const out: HeaderMatch = {};
  for (const item of list) {
    const at = item.indexOf("=");
    if (at > 0) out[item.slice(0, at)] = item.slice(at + 1);
    else if (item.startsWith("!") && item.length > 1) out[item.slice(1)] = { exists: false };
    else if (item.length > 0 && at < 0) out[item] = { exists: true };
    else throw new UsageError(`--match must be key=value, key or !key, got "${item}"`);
  }
  return out;
}

function startAt(raw: unknown): SubscriptionConfig["startAt"] {
  if (raw === undefined || raw === "earliest" || raw === "latest") return raw;
  const seq = Number(raw);
  if (!Number.isInteger(seq) || seq < 1) {
    throw new UsageError(`--start must be earliest, latest or a seq >= 1, got "${raw}"`);
  }
  return { seq };
}

const SUB_HELP = `Actions:
  create <topic> <sub>            create a subscription, or change its filters and options
      --filter <pattern>  a subject pattern (repeatable: any matches): * is one token,
                          > one or more (last only). None: every message
      --match <cond>      a header condition (repeatable, all must hold): key=value,
                          key (present) or !key (absent)
      --start <s>         earliest | latest (default) | a topic seq (at creation only)
      --mode <m>  --lease-ms <n>  --max-deliveries <n>  --dead-letter <queue>  --fifo
  consume <topic> <sub>           print (or --exec) and ack messages; mq consume --help
  delete <topic> <sub>            delete the subscription

Changing filters keeps the messages already in the subscription. A create without --filter
or --match removes any routing: the subscription gets every message again.`;

const sub: Command = {
  name: "sub",
  usesSession: (positionals) => positionals[0] === "consume",
  summary: "subscriptions: create (with --filter, --match), consume, delete",
  usage: "sub <create|consume|delete> <topic> <subscription> [options]",
  help: SUB_HELP,
  options: {
    ...consumeCommand.options,
    filter: { type: "string", multiple: true },
    match: { type: "string", multiple: true },
    start: { type: "string" },
    mode: { type: "string" },
    "max-deliveries": { type: "string" },
    "dead-letter": { type: "string" },
    fifo: { type: "boolean" },
  },
  async run(context, values, positionals) {
    const { verb, names } = action(positionals, ["topic name", "subscription name"]);
    const [topicName, name] = names;
    switch (verb) {
      case "create": {
        const filters = (values.filter as string[] | undefined) ?? [];
        const config: SubscriptionConfig = defined({
          filter: filters.length === 1 ? filters[0] : undefined,
          filters: filters.length > 1 ? filters : undefined,
          headers: headerConditions((values.match as string[] | undefined) ?? []),
          startAt: startAt(values.start),
          deliveryMode: values.mode as SubscriptionConfig["deliveryMode"],
          leaseMs: intOption(values, "lease-ms"),
          maxDeliveries: intOption(values, "max-deliveries"),
          deadLetterQueue: values["dead-letter"] as string | undefined,
          fifo: values.fifo as boolean | undefined,
        });
        const result = await context.client.subscriptions.create(topicName, name, config);
        say(context, result, `subscription ${topicName}/${name}: ${JSON.stringify(result)}`);
        return 0;
      }
      case "consume":
        return await consumeCommand.run(
          context,
          { ...values, subscription: name },
          [topicName],
        );
      case "delete":
        await context.client.subscriptions.delete(topicName, name);
        say(
          context,
          { deleted: `${topicName}/${name}` },
          `subscription ${topicName}/${name} deleted`,
        );
        return 0;
      default:
        throw new UsageError(`Unknown action "${verb ?? ""}": create, consume or delete`);
    }
  },
};

export const TOPIC_COMMANDS: Command[] = [topic, sub];
