/**
 * Node configuration (DESIGN "Running a node"): one table of options, read from command-line
 * flags, environment variables `QUORUMQ_<NAME>` and an optional JSON file, with the precedence
 * flags > env > file > defaults, validated with zod.
 *
 * `parseConfig(args, env, readFile)` is pure apart from the injected `readFile`, so `src/main.ts`
 * wires it to `Deno.args`, `Deno.env.toObject()` and `Deno.readTextFileSync`, and tests pass
 * plain values.
 *
 * @module
 */

import { z } from "zod";
import { LOG_LEVELS, type LogLevel } from "./log.ts";
import { mqttTlsOption, plainPeerUrl, readSecret, tlsOptions } from "./config_tls.ts";
import { parseOrigins } from "./http/cors.ts";

/** One initial voting member. */
export interface PeerSpec {
  readonly id: string;
  readonly url: string;
}

/** The validated configuration of one node. */
export interface NodeConfig {
  readonly id: string;
  /** Host and port of the one listener (HTTP API and peer WebSocket path). */
  readonly listen: { readonly hostname: string; readonly port: number };
  /** The URL other nodes use to reach this one, without a trailing slash. */
  readonly advertise: string;
  /** The initial voting members, this node included. */
  readonly peers: readonly PeerSpec[];
  readonly dataDir: string;
  readonly storage: "fsync" | "memory";
  /** The cluster secret; required when there is more than one peer. */
  readonly secret: string | undefined;
  readonly authFile: string | undefined;
  /**
   * Without `--auth-file`, callers without a token may write and administer even where the node
   * would refuse them (a cluster, a non-loopback listener): `src/server/access.ts`.
   */
  readonly allowAnonymous: boolean;
  /** `/metrics` is served without a token. */
  readonly metricsPublic: boolean;
  readonly logLevel: LogLevel;
  readonly maxBodyBytes: number;
  /** Enables the transport fault seam and its admin endpoint. Never in production. */
  readonly testFaults: boolean;
  /**
   * The cluster's id, carried in every Raft message: a node of another cluster (or of this one
   * before it was rebuilt under a new id) is refused.
   */
  readonly clusterId: string;
  /** Start with no membership and wait to be added by the leader (`POST /v1/cluster/members`). */
  readonly join: boolean;
  /** Origins whose browser apps may call the API (CORS); empty: none. `*`: any. */
  readonly corsOrigins: readonly string[];
  /** Host and port of the MQTT listener (docs/mqtt.md); absent: no MQTT. */
  readonly mqttListen: { readonly hostname: string; readonly port: number } | undefined;
  /** The largest MQTT packet accepted; a larger one closes its connection. */
  readonly mqttMaxPacketBytes: number;
  /**
   * The listener's certificate and key (PEM files): HTTP, the stream, the dashboard, `/mqtt` and
   * the peer paths are all on TLS. `--tls-cert`/`--tls-key`, or the peer certificate when only
   * `--peer-cert` is given (docs/tls.md). Absent: plain HTTP.
   */
  readonly tls: TlsFiles | undefined;
  /** MQTT over TLS on its own listener (same certificate as `tls`); absent: none. */
  readonly mqttTlsListen: { readonly hostname: string; readonly port: number } | undefined;
  /** Peer links and the forwarding channel over mutually authenticated TLS; absent: off. */
  readonly peerTls: PeerTlsFiles | undefined;
  /** The file the secret was read from (`--secret-file`), for the permission check at start. */
  readonly secretFile: string | undefined;
}

/** A certificate (chain) and its private key, PEM files. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/** The cluster CA, and this node's certificate and key for the links between nodes. */
export interface PeerTlsFiles extends TlsFiles {
  readonly caFile: string;
}

export type ParseConfigResult =
  | { readonly kind: "config"; readonly config: NodeConfig }
  | { readonly kind: "help"; readonly text: string }
  | { readonly kind: "error"; readonly message: string };

/** Reads a text file; throws when it cannot. */
export type ReadTextFile = (path: string) => string;

interface OptionSpec {
  /** The flag without `--`; the env name is `QUORUMQ_` + upper snake case of it. */
  readonly flag: string;
  /** The key in the JSON config file (camelCase). */
  readonly key: string;
  readonly arg: string;
  readonly help: string;
  readonly defaultText: string;
  /** A flag that takes no value (`--test-faults`). */
  readonly boolean?: boolean;
}

/** The one table: flags, env names, file keys and `--help` are all generated from it. */
export const OPTIONS: readonly OptionSpec[] = [
  { flag: "id", key: "id", arg: "<name>", help: "this node's id", defaultText: "n1" },
  {
    flag: "listen",
    key: "listen",
    arg: "<host:port>",
    help: "the HTTP API and the peer WebSocket path on one listener",
    defaultText: "127.0.0.1:8080",
  },
  {
    flag: "tls-cert",
    key: "tlsCert",
    arg: "<cert.pem>",
    help: "serve HTTP, the stream, the dashboard and /mqtt on TLS with this certificate (chain)",
    defaultText: "plain HTTP (the peer certificate with --peer-cert)",
  },
  {
    flag: "tls-key",
    key: "tlsKey",
    arg: "<key.pem>",
    help: "the private key of --tls-cert (PEM); both reload on SIGHUP",
    defaultText: "none",
  },
  {
    flag: "advertise",
    key: "advertise",
    arg: "<url>",
    help: "the URL other nodes use to reach this one",
    defaultText: "http://<listen>",
  },
  {
    flag: "peers",
    key: "peers",
    arg: "<id=url,...>",
    help: "the initial voting members, this node included",
    defaultText: "this node alone",
  },
  {
    flag: "data",
    key: "data",
    arg: "<dir>",
    help: "where the log, hard state and snapshots live",
    defaultText: "./data",
  },
  {
    flag: "storage",
    key: "storage",
    arg: "fsync|memory",
    help: "fsync: nothing is answered before it is on disk on a majority; memory: no disk at all",
    defaultText: "fsync",
  },
  {
    flag: "secret",
    key: "secret",
    arg: "<string>",
    help: "the cluster secret that peers prove on every link",
    defaultText: "required when there are peers",
  },
  {
    flag: "secret-file",
    key: "secretFile",
    arg: "<file>",
    help: "read the cluster secret from this file (one trailing newline dropped), not --secret",
    defaultText: "none",
  },
  {
    flag: "peer-ca",
    key: "peerCa",
    arg: "<ca.pem>",
    help: "the cluster CA: peers' certificates must chain to it (links and forwarding on TLS)",
    defaultText: "peer TLS off",
  },
  {
    flag: "peer-cert",
    key: "peerCert",
    arg: "<cert.pem>",
    help: "this node's certificate (chain) signed by --peer-ca, proved on every link it dials",
    defaultText: "peer TLS off",
  },
  {
    flag: "peer-key",
    key: "peerKey",
    arg: "<key.pem>",
    help: "the private key of --peer-cert; the three reload on SIGHUP",
    defaultText: "peer TLS off",
  },
  {
    flag: "auth-file",
    key: "authFile",
    arg: "<file.json>",
    help: "bearer tokens and their permissions (docs/http.md); auth is off without it",
    defaultText: "auth off",
  },
  {
    flag: "allow-anonymous",
    key: "allowAnonymous",
    arg: "",
    help: "without --auth-file, let callers without a token write and administer a cluster " +
      "(--peers, --join) or a node on a non-loopback address; reads are always open",
    defaultText: "off (open only for one node on loopback)",
    boolean: true,
  },
  {
    flag: "metrics-public",
    key: "metricsPublic",
    arg: "",
    help: "serve /metrics without a token (otherwise it needs an admin token, or the open mode)",
    defaultText: "off",
    boolean: true,
  },
  {
    flag: "log-level",
    key: "logLevel",
    arg: LOG_LEVELS.join("|"),
    help: "the lowest level written to stderr (JSON lines)",
    defaultText: "info",
  },
  {
    flag: "max-body-bytes",
    key: "maxBodyBytes",
    arg: "<bytes>",
    help: "the largest request body accepted (larger: 413 payload_too_large)",
    defaultText: "1048576",
  },
  {
    flag: "cors-origin",
    key: "corsOrigin",
    arg: "<origin,...>",
    help: "browser apps at these origins may call the API (CORS), e.g. https://app.example; * any",
    defaultText: "none",
  },
  {
    flag: "mqtt-listen",
    key: "mqttListen",
    arg: "<host:port>",
    help: "the MQTT 3.1.1/5 listener (docs/mqtt.md), e.g. 127.0.0.1:1883",
    defaultText: "off",
  },
  {
    flag: "mqtt-tls-listen",
    key: "mqttTlsListen",
    arg: "<host:port>",
    help: "MQTT over TLS on this listener, with the listener's certificate, e.g. 0.0.0.0:8883",
    defaultText: "off",
  },
  {
    flag: "mqtt-max-packet-bytes",
    key: "mqttMaxPacketBytes",
    arg: "<bytes>",
    help: "the largest MQTT packet accepted (larger: the connection is closed, reason 0x95)",
    defaultText: "1048576",
  },
  {
    flag: "config",
    key: "config",
    arg: "<file.json>",
    help: "a JSON file with any of these options (camelCase keys); flags and env override it",
    defaultText: "none",
  },
  {
    flag: "test-faults",
    key: "testFaults",
    arg: "",
    help: "tests only: the link fault seam and its admin endpoint, durable log end recorded",
    defaultText: "off",
    boolean: true,
  },
  {
    flag: "cluster-id",
    key: "clusterId",
    arg: "<name>",
    help: "the cluster's id, in every Raft message; give a rebuilt cluster a new one",
    defaultText: "quorumq",
  },
  {
    flag: "join",
    key: "join",
    arg: "",
    help: "join an existing cluster: start with no membership until the leader adds this node",
    defaultText: "off",
    boolean: true,
  },
];

/** `QUORUMQ_MAX_BODY_BYTES` for `max-body-bytes`. */
export function envName(flag: string): string {
  return "QUORUMQ_" + flag.toUpperCase().replaceAll("-", "_");
}

/** The `--help` text, generated from `OPTIONS`. */
export function helpText(): string {
  const rows = OPTIONS.map((o) => {
    const left = `  --${o.flag}${o.arg ? " " + o.arg : ""}`;
    return `${left.padEnd(34)} ${o.help}\n${"".padEnd(35)}env ${
      envName(o.flag)
    }; default: ${o.defaultText}`;
  });
  return [
    "quorumq: a Raft-replicated message broker node",
    "",
    "Usage: deno task start [options]",
    "",
    "Options (precedence: flags > environment > --config file > defaults):",
    ...rows,
    "  --help                             print this text",
    "",
  ].join("\n");
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/;

const rawSchema = z.strictObject({
  id: z.string().regex(NAME, "must be 1-64 of A-Z a-z 0-9 . _ -").default("n1"),
  listen: z.string().default("127.0.0.1:8080"),
  advertise: z.string().optional(),
  peers: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
  data: z.string().min(1).default("./data"),
  storage: z.enum(["fsync", "memory"]).default("fsync"),
  secret: z.string().min(1, "must not be empty").optional(),
  secretFile: z.string().min(1).optional(),
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
  peerCa: z.string().min(1).optional(),
  peerCert: z.string().min(1).optional(),
  peerKey: z.string().min(1).optional(),
  mqttTlsListen: z.string().optional(),
  authFile: z.string().min(1).optional(),
  allowAnonymous: z.union([z.boolean(), z.enum(["true", "false", "1", "0", ""])]).default(false),
  metricsPublic: z.union([z.boolean(), z.enum(["true", "false", "1", "0", ""])]).default(false),
  logLevel: z.enum(LOG_LEVELS).default("info"),
  maxBodyBytes: z.coerce.number().int().min(1024, "must be at least 1024")
    .max(1 << 30, "must be at most 1 GiB").default(1 << 20),
  config: z.string().optional(),
  testFaults: z.union([z.boolean(), z.enum(["true", "false", "1", "0", ""])]).default(false),
  clusterId: z.string().regex(NAME, "must be 1-64 of A-Z a-z 0-9 . _ -").default("quorumq"),
  join: z.union([z.boolean(), z.enum(["true", "false", "1", "0", ""])]).default(false),
  corsOrigin: z.union([z.string(), z.array(z.string())]).optional(),
  mqttListen: z.string().optional(),
  mqttMaxPacketBytes: z.coerce.number().int().min(1024, "must be at least 1024")
    .max(256 * 1024 * 1024, "must be at most 256 MiB").default(1 << 20),
});

type Sources = Record<string, unknown>;

/**
 * Parses flags, environment and config file into a `NodeConfig`. A bad value gives
 * `{ kind: "error" }` with a message naming the option and the reason.
 */
export function parseConfig(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  readFile: ReadTextFile,
): ParseConfigResult {
  const flags = parseFlags(args);
  if (flags.kind !== "ok") return flags;
  const fromEnv: Sources = {};
  for (const o of OPTIONS) {
    const value = env[envName(o.flag)];
    if (value !== undefined) fromEnv[o.key] = value;
  }
  const configPath = (flags.values.config ?? fromEnv.config) as string | undefined;
  let fromFile: Sources = {};
  if (configPath !== undefined) {
    const file = readConfigFile(configPath, readFile);
    if (file.kind === "error") return file;
    fromFile = file.values;
  }
  const merged = { ...fromFile, ...fromEnv, ...flags.values };
  const parsed = rawSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue.path[0] ?? "");
    const option = OPTIONS.find((o) => o.key === key);
    const name = option ? `--${option.flag} (${envName(option.flag)})` : `"${key}"`;
    return { kind: "error", message: `Invalid option ${name}: ${issue.message}` };
  }
  return finish(parsed.data, readFile);
}

function parseFlags(
  args: readonly string[],
): { kind: "ok"; values: Sources } | Exclude<ParseConfigResult, { kind: "config" }> {
  const values: Sources = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--help" || arg === "-h") return { kind: "help", text: helpText() };
    if (!arg.startsWith("--")) {
      return { kind: "error", message: `Unexpected argument "${arg}": options start with --` };
    }
    const eq = arg.indexOf("=");
    const flag = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const option = OPTIONS.find((o) => o.flag === flag);
    if (option === undefined) {
      return { kind: "error", message: `Unknown option --${flag} (see --help)` };
    }
    if (option.boolean) {
      values[option.key] = eq === -1 ? true : arg.slice(eq + 1);
      continue;
    }
    if (eq !== -1) {
      values[option.key] = arg.slice(eq + 1);
      continue;
    }
    const next = args[i + 1];
    if (next === undefined || next.startsWith("--")) {
      return { kind: "error", message: `Option --${flag} needs a value ${option.arg}` };
    }
    values[option.key] = next;
    i++;
  }
  return { kind: "ok", values };
}

function readConfigFile(
  path: string,
  readFile: ReadTextFile,
): { kind: "ok"; values: Sources } | { kind: "error"; message: string } {
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    return { kind: "error", message: `Cannot read --config file ${path}: ${errorText(error)}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { kind: "error", message: `Cannot parse --config file ${path}: ${errorText(error)}` };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { kind: "error", message: `Invalid --config file ${path}: expected a JSON object` };
  }
  const values = { ...json } as Sources;
  delete values.config; // A config file does not name another one.
  return { kind: "ok", values };
}

function finish(raw: z.infer<typeof rawSchema>, readFile: ReadTextFile): ParseConfigResult {
  const listen = parseListen(raw.listen);
  if (typeof listen === "string") {
    return { kind: "error", message: `Invalid option --listen (QUORUMQ_LISTEN): ${listen}` };
  }
  const tls = tlsOptions(raw);
  if (tls.kind === "error") return tls;
  const secret = readSecret(raw, readFile);
  if (typeof secret === "object") return secret;
  const scheme = tls.tls === undefined ? "http" : "https";
  const advertise = normalizeUrl(raw.advertise ?? `${scheme}://${raw.listen}`);
  if (advertise === undefined) {
    return {
      kind: "error",
      message: `Invalid option --advertise (QUORUMQ_ADVERTISE): not an http(s) URL`,
    };
  }
  const peers = parsePeers(raw.peers, raw.id, advertise);
  if (typeof peers === "string") {
    return { kind: "error", message: `Invalid option --peers (QUORUMQ_PEERS): ${peers}` };
  }
  const plainPeer = plainPeerUrl(tls.peerTls, advertise, peers);
  if (plainPeer !== undefined) return plainPeer;
  if (peers.length > 1 && secret === undefined) {
    return {
      kind: "error",
      message: "Invalid option --secret (QUORUMQ_SECRET): required when there are peers",
    };
  }
  const testFaults = isOn(raw.testFaults);
  const corsOrigins = parseOrigins(raw.corsOrigin);
  if (typeof corsOrigins === "string") {
    return {
      kind: "error",
      message: `Invalid option --cors-origin (QUORUMQ_CORS_ORIGIN): ${corsOrigins}`,
    };
  }
  const mqttListen = optionalListen(raw.mqttListen);
  if (typeof mqttListen === "string") {
    return {
      kind: "error",
      message: `Invalid option --mqtt-listen (QUORUMQ_MQTT_LISTEN): ${mqttListen}`,
    };
  }
  const mqttTlsListen = mqttTlsOption(optionalListen(raw.mqttTlsListen), tls.tls);
  if (typeof mqttTlsListen === "object" && "kind" in mqttTlsListen) return mqttTlsListen;
  return {
    kind: "config",
    config: {
      id: raw.id,
      listen,
      advertise,
      peers,
      dataDir: raw.data,
      storage: raw.storage,
      secret,
      authFile: raw.authFile,
      allowAnonymous: isOn(raw.allowAnonymous),
      metricsPublic: isOn(raw.metricsPublic),
      logLevel: raw.logLevel,
      maxBodyBytes: raw.maxBodyBytes,
      testFaults,
      clusterId: raw.clusterId,
      join: isOn(raw.join),
      corsOrigins,
      mqttListen,
      mqttMaxPacketBytes: raw.mqttMaxPacketBytes,
      tls: tls.tls,
      mqttTlsListen,
      peerTls: tls.peerTls,
      secretFile: raw.secretFile,
    },
  };
}

/** A listener option that may be absent (or empty, to turn it off from the environment). */
function optionalListen(value: string | undefined): ReturnType<typeof parseListen> | undefined {
  return value === undefined || value === "" ? undefined : parseListen(value);
}

/** A boolean option's value from a flag (true), the environment or a file. */
function isOn(value: boolean | string): boolean {
  return value === true || value === "true" || value === "1" || value === "";
}

function parseListen(text: string): { hostname: string; port: number } | string {
  const colon = text.lastIndexOf(":");
  if (colon <= 0) return `expected <host:port>, got "${text}"`;
  const hostname = text.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  const portText = text.slice(colon + 1);
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535) {
    return `port must be 0..65535, got "${portText}"`;
  }
  return { hostname, port };
}

function normalizeUrl(text: string): string | undefined {
  try {
    const url = new URL(text);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    return url.toString().replace(/\/+$/, "");
  } catch {
    return undefined;
  }
}

function parsePeers(
  raw: string | Record<string, string> | undefined,
  selfId: string,
  advertise: string,
): PeerSpec[] | string {
  if (raw === undefined || raw === "") return [{ id: selfId, url: advertise }];
  const pairs: [string, string][] = typeof raw === "string"
    ? raw.split(",").map((item) => {
      const eq = item.indexOf("=");
      return eq === -1 ? [item.trim(), ""] : [item.slice(0, eq).trim(), item.slice(eq + 1).trim()];
    })
    : Object.entries(raw);
  const peers: PeerSpec[] = [];
  for (const [id, urlText] of pairs) {
    if (!NAME.test(id)) return `bad node id "${id}" (expected id=url,...)`;
    const url = normalizeUrl(urlText);
    if (url === undefined) return `bad URL for ${id}: "${urlText}"`;
    if (peers.some((p) => p.id === id)) return `node id ${id} appears twice`;
    peers.push({ id, url });
  }
  if (!peers.some((p) => p.id === selfId)) return `must include this node (${selfId})`;
  return peers;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
