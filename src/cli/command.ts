/**
 * The shape of a CLI subcommand and what it is given.
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import type { Client } from "../client/mod.ts";
import type { Io } from "./io.ts";

/** What every command gets. */
export interface Context {
  client: Client;
  io: Io;
  json: boolean;
  nodes: string[];
  token?: string;
}

/** Parsed option values (strings and booleans, repeated ones as arrays). */
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** One subcommand. */
export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The full `--help` text after the usage line. */
  help: string;
  usage: string;
  options: ParseArgsOptionsConfig;
  /**
   * True for the long-running calls (consume, bench): their client opens a session, whose
   * (session, seq) makes every retry exactly-once. One-shot calls send an Idempotency-Key per
   * write instead: a script that runs `mq publish` in a loop would otherwise open a replicated
   * session per run and fill the session table for an hour.
   */
  usesSession?(positionals: string[]): boolean;
  run(context: Context, values: Values, positionals: string[]): Promise<number>;
}

/** A mistake in the command line: printed with the usage, exit code 2. */
export class UsageError extends Error {}
