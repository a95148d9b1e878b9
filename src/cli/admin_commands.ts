/**
 * An operator's commands on a queue's stored messages: `peek`, `purge`, `redrive`.
 *
 * @module
 */

import { type Command, UsageError } from "./command.ts";
import { intOption, table } from "./commands.ts";

/** Bound on the rounds of a `redrive` of everything (10,000 messages each). */
const REDRIVE_ROUNDS_MAX = 1000;

function queueArg(positionals: string[]): string {
  if (positionals.length === 0 || positionals[0] === "") throw new UsageError("Missing <queue>");
  return positionals[0];
}

const peek: Command = {
  name: "peek",
  summary: "show a queue's stored messages without leasing them",
  usage: "peek <queue> [--from-seq N] [--limit N]",
  help: `Shows stored messages (ready, delayed, leased) in seq order; nothing is leased or counted.

Options:
  --from-seq <n>  the first seq to show (default: the first stored)
  --limit <n>     at most this many, 1..1000 (default 100)`,
  options: { "from-seq": { type: "string" }, limit: { type: "string" } },
  async run(context, values, positionals) {
    const queue = queueArg(positionals);
    const fromSeq = intOption(values, "from-seq");
    const limit = intOption(values, "limit");
    const page = await context.client.peek(queue, {
      ...(fromSeq !== undefined ? { fromSeq } : {}),
      ...(limit !== undefined ? { limit } : {}),
    });
    if (context.json) {
      for (const m of page.messages) context.io.out(JSON.stringify(m));
      return 0;
    }
    table(
      context,
      ["SEQ", "ID", "STATE", "ATTEMPT", "BODY"],
      page.messages.map((m) => [m.seq, m.id, m.state, m.attempt, JSON.stringify(m.body)]),
    );
    return 0;
  },
};

const purge: Command = {
  name: "purge",
  summary: "drop every ready and delayed message of a queue",
  usage: "purge <queue> --yes",
  help: `Drops every ready and delayed message; leased ones stay with their consumers.

Options:
  --yes  required: says you mean it`,
  options: { yes: { type: "boolean" } },
  async run(context, values, positionals) {
    const queue = queueArg(positionals);
    if (values.yes !== true) throw new UsageError(`purge drops messages of ${queue}: add --yes`);
    const purged = await context.client.purge(queue);
    context.io.out(context.json ? JSON.stringify({ purged }) : `purged ${purged} messages`);
    return 0;
  },
};

const redrive: Command = {
  name: "redrive",
  summary: "move dead-lettered messages back to the queue they came from",
  usage: "redrive <dead-letter-queue> [--seq N ...]",
  help: `Moves messages of a dead-letter queue back to their origin queue (as new deliveries).
Without --seq: all of them, 10,000 per request until none is left or none can move.

Options:
  --seq <n>  only this message (repeat for several)`,
  options: { seq: { type: "string", multiple: true } },
  async run(context, values, positionals) {
    const queue = queueArg(positionals);
    const raw = values.seq === undefined ? undefined : [values.seq].flat().map(String);
    const seqs = raw?.map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 1) throw new UsageError(`--seq must be a seq, got "${s}"`);
      return n;
    });
    let redriven = 0;
    const skipped: { seq: number; reason: string }[] = [];
    for (let round = 0; round < (seqs ? 1 : REDRIVE_ROUNDS_MAX); round++) {
      const r = await context.client.redrive(queue, seqs);
      redriven += r.redriven;
      skipped.push(...r.skipped);
      if (r.redriven === 0 || r.remaining === 0) break;
    }
    if (context.json) context.io.out(JSON.stringify({ redriven, skipped }));
    else {
      context.io.out(`redriven ${redriven} messages`);
      for (const s of skipped) context.io.out(`skipped seq ${s.seq}: ${s.reason}`);
    }
    return skipped.length > 0 && redriven === 0 ? 1 : 0;
  },
};

export const ADMIN_COMMANDS: Command[] = [peek, purge, redrive];
