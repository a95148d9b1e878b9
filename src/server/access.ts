/**
 * Safe defaults: what a node without `--auth-file` lets callers without a token do.
 *
 * - One node listening on loopback (the quickstart, `deno task start`): everything. Only
 *   programs on the same machine can reach it.
 * - `--peers` with other members, or `--join`: reads only. A cluster is a deployment; its
 *   membership, leadership, event log, faults, purge/redrive and every write are refused with
 *   403 `anonymous_refused` until the operator gives `--auth-file` or says `--allow-anonymous`.
 * - One node on a non-loopback address (`0.0.0.0`, a LAN address): reads only as well, and a
 *   warning at start. Anyone on the network could otherwise purge its queues; the cure is one
 *   flag, and the refusal names it.
 *
 * @module
 */

import type { NodeConfig } from "../config.ts";
import type { AnonymousAccess } from "../http/mod.ts";

/** The anonymous access of a node from its flags, with the reason when it is restricted. */
export function anonymousAccess(
  config: Pick<NodeConfig, "authFile" | "allowAnonymous" | "peers" | "join" | "listen">,
): AnonymousAccess {
  if (config.authFile !== undefined || config.allowAnonymous) return { open: true };
  const fix = "Start the nodes with --auth-file <file.json> and send a bearer token, or with " +
    "--allow-anonymous to let anyone who can reach them write and administer.";
  if (config.peers.length > 1 || config.join) {
    return {
      open: false,
      why: `This node is a cluster member (${config.join ? "--join" : "--peers"}) without ` +
        `--auth-file: callers without a token may only read. ${fix}`,
    };
  }
  if (!isLoopback(config.listen.hostname)) {
    return {
      open: false,
      why: `This node listens on ${config.listen.hostname}, beyond loopback, without ` +
        `--auth-file: callers without a token may only read. ${fix}`,
    };
  }
  return { open: true };
}

/** `localhost`, `127.0.0.0/8`, `::1`. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
