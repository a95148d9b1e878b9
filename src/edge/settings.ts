/**
 * The gateway's settings, read from the same names in every runtime: a Worker's `env` (vars and
 * secrets), or the environment of the Deno entry (docs/edge.md, "Settings").
 *
 * @module
 */

import { parseOrigins } from "../http/cors.ts";

/** What a gateway is told. */
export interface EdgeSettings {
  /** `QUORUMQ_UPSTREAM`: node URLs, comma-separated (`http(s)://` or `ws(s)://`). */
  readonly upstream: readonly string[];
  /** `QUORUMQ_EDGE_TOKEN`: the gateway's relay token, when the cluster has auth on. */
  readonly token?: string;
  /** `QUORUMQ_EDGE_MAX_BODY_BYTES`: largest request body; default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** `QUORUMQ_EDGE_FOLLOW_LEADER`: `false` keeps the stream on the node it opened to. */
  readonly followLeader: boolean;
  /** `QUORUMQ_EDGE_STALE_CACHE_MS`: how long a stale read's answer is served again; 0: off. */
  readonly staleCacheMs?: number;
  /** `QUORUMQ_EDGE_CORS_ORIGIN`: origins whose browser apps may call the gateway; `*`: any. */
  readonly corsOrigins?: readonly string[];
}

/** Reads the settings from string values (an env); throws an Error that says what is wrong. */
export function edgeSettings(env: Readonly<Record<string, unknown>>): EdgeSettings {
  const text = (name: string) => {
    const v = env[name];
    return typeof v === "string" && v.trim() !== "" ? v.trim() : undefined;
  };
  const upstream = (text("QUORUMQ_UPSTREAM") ?? "").split(",").map((s) => s.trim())
    .filter((s) => s !== "");
  if (upstream.length === 0) {
    throw new Error("QUORUMQ_UPSTREAM must name at least one node URL (comma-separated)");
  }
  for (const u of upstream) {
    if (!/^(https?|wss?):\/\/[^/]+\/?$/.test(u)) {
      throw new Error(`QUORUMQ_UPSTREAM: ${u} is not a node's base URL (http(s)://host:port)`);
    }
  }
  const max = text("QUORUMQ_EDGE_MAX_BODY_BYTES");
  const maxBodyBytes = max === undefined ? undefined : Number(max);
  if (maxBodyBytes !== undefined && !(Number.isSafeInteger(maxBodyBytes) && maxBodyBytes > 0)) {
    throw new Error(`QUORUMQ_EDGE_MAX_BODY_BYTES must be a positive integer, not ${max}`);
  }
  const cacheMs = text("QUORUMQ_EDGE_STALE_CACHE_MS");
  const staleCacheMs = cacheMs === undefined ? undefined : Number(cacheMs);
  if (staleCacheMs !== undefined && !(Number.isSafeInteger(staleCacheMs) && staleCacheMs >= 0)) {
    throw new Error(
      `QUORUMQ_EDGE_STALE_CACHE_MS must be a whole number of ms (0: off), not ${cacheMs}`,
    );
  }
  const corsOrigins = parseOrigins(text("QUORUMQ_EDGE_CORS_ORIGIN"));
  if (typeof corsOrigins === "string") {
    throw new Error(`QUORUMQ_EDGE_CORS_ORIGIN: ${corsOrigins}`);
  }
  const token = text("QUORUMQ_EDGE_TOKEN");
  return {
    upstream,
    ...(token !== undefined ? { token } : {}),
    ...(maxBodyBytes !== undefined ? { maxBodyBytes } : {}),
    followLeader: text("QUORUMQ_EDGE_FOLLOW_LEADER") !== "false",
    ...(staleCacheMs !== undefined ? { staleCacheMs } : {}),
    ...(corsOrigins.length > 0 ? { corsOrigins } : {}),
  };
}
