/**
 * `mq`: the quorumq command line (`deno task mq <command>`). Global options: `--nodes` (env
 * QUORUMQ_NODES), `--token` (env QUORUMQ_TOKEN), `--json` for scripts, `--help` on every command.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { Client, QuorumqError } from "../client/mod.ts";
import { type Command, type Context, UsageError } from "./command.ts";
import { type Io, processIo } from "./io.ts";
import { COMMANDS } from "./commands.ts";
import { TOPIC_COMMANDS } from "./topic_commands.ts";
import { bench } from "./bench.ts";
import { ADMIN_COMMANDS } from "./admin_commands.ts";
import { discoverLocalNodes } from "./discover.ts";
import { trustCa } from "./trust.ts";

const GLOBAL_OPTIONS: ParseArgsOptionsConfig = {
  nodes: { type: "string" },
  token: { type: "string" },
  ca: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

const GLOBAL_HELP = `Global options:
  --nodes <url,...>  the nodes to talk to (env QUORUMQ_NODES); default: whichever of
                     127.0.0.1:8080 (deno task start) and :8081..8083 (deno task cluster)
                     answers
  --token <token>    bearer token (env QUORUMQ_TOKEN)
  --ca <ca.pem>      trust this CA for https:// nodes, e.g. the cluster's (env QUORUMQ_CA)
  --json             machine-readable output (one JSON value per line)
  -h, --help         help for the command`;

const ALL: Command[] = [...COMMANDS, ...TOPIC_COMMANDS, ...ADMIN_COMMANDS, bench];

function topHelp(): string {
  const width = Math.max(...ALL.map((c) => c.name.length));
  const list = ALL.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n");
  return `mq: the quorumq command line\n\nUsage: mq [global options] <command> [options]\n\n` +
    `Commands:\n${list}\n\n${GLOBAL_HELP}\n\nRun "mq <command> --help" for a command's options.`;
}

/** Finds the command word: the first argument that is neither an option nor an option's value. */
function splitCommand(argv: string[]): { name?: string; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--nodes" || arg === "--token" || arg === "--ca") {
      i++;
      continue;
    }
    if (arg.startsWith("-")) continue;
    return { name: arg, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { rest: argv };
}

/** Runs the CLI; resolves with the exit code (0 ok, 1 failed, 2 usage). */
export async function main(argv: string[], io: Io): Promise<number> {
  const { name, rest } = splitCommand(argv);
  if (name === undefined) {
    (rest.includes("--help") || rest.includes("-h") ? io.out : io.err)(topHelp());
    return rest.includes("--help") || rest.includes("-h") ? 0 : 2;
  }
  const command = ALL.find((c) => c.name === name);
  if (!command) {
    io.err(`mq: unknown command "${name}"\n\n${topHelp()}\n`);
    return 2;
  }
  const helpText = `Usage: mq ${command.usage}\n\n${command.help}\n\n${GLOBAL_HELP}`;
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      io.out(helpText);
      return 0;
    }
    const given = (values.nodes as string | undefined) ?? io.env("QUORUMQ_NODES");
    const nodes = given === undefined
      ? await discoverLocalNodes(io.fetch)
      : given.split(",").map((s) => s.trim()).filter(Boolean);
    const token = (values.token as string | undefined) ?? io.env("QUORUMQ_TOKEN");
    const caFile = (values.ca as string | undefined) ?? io.env("QUORUMQ_CA");
    const caPem = caFile === undefined ? undefined : await readCa(caFile);
    const trust = caPem === undefined ? undefined : trustCa(caPem);
    const sessions = command.usesSession?.(positionals) ?? false;
    // One-shot commands use HTTP (opening a stream would cost them a round trip); the
    // long-running ones (consume, sub consume, bench) ride the stream where it exists.
    const transport = sessions ? "auto" : "http";
    const client = new Client({
      nodes,
      token,
      fetch: io.fetch ?? trust?.fetch,
      // A fetch seam (tests) keeps the client on it unless a CA is given; otherwise the stream
      // dials with TCP_NODELAY, the client's default in Deno (a CA: with the same dial).
      ...(trust !== undefined ? { dial: trust.dial } : {}),
      sessions,
      transport,
    });
    const context: Context = { client, io, json: values.json === true, nodes, token };
    return await command.run(context, values, positionals);
  } catch (error) {
    return report(error, io, helpText);
  }
}

async function readCa(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new UsageError(`cannot read --ca ${path}: ${(error as Error).message}`);
  }
}

function report(error: unknown, io: Io, helpText: string): number {
  const code = (error as { code?: string }).code;
  if (
    error instanceof UsageError || (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"))
  ) {
    io.err(`mq: ${(error as Error).message}\n\n${helpText}\n`);
    return 2;
  }
  if (error instanceof QuorumqError) {
    const reasons = error.errors.length > 0
      ? `\n  ${error.errors.map((e) => JSON.stringify(e)).join("\n  ")}`
      : "";
    io.err(
      `mq: ${error.message} [${error.type}${error.status ? ` ${error.status}` : ""}]${reasons}\n`,
    );
    return 1;
  }
  io.err(`mq: ${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args, processIo()));
}
