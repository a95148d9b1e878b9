/**
 * `deno task cluster`: three local nodes for development. n1..n3 listen on 127.0.0.1:8081..8083
 * (`--base-port` moves them), keep their data in ./data/n1..n3 (`--data`), share one dev secret
 * (printed; `QUORUMQ_SECRET` overrides it) and print their logs on this terminal, each line
 * prefixed with the node id. The leader is printed once known and again whenever it changes.
 * Ctrl-C (SIGINT) or SIGTERM sends SIGTERM to every node, waits for them (SIGKILL after
 * `STOP_WAIT_MS`) and exits: 0 when every node stopped cleanly, else 1.
 *
 *   deno task cluster                                 # 8081..8083, data in ./data
 *   deno task cluster --base-port 9001 -- --storage memory   # after `--`: flags for every node
 *
 * @module
 */

import { parseArgs } from "node:util";
import { MALLOC_TUNABLES, V8_FLAGS } from "./server/mod.ts";

/** The dev cluster's settings. */
export interface DevClusterOptions {
  readonly basePort: number;
  /** n1's MQTT port; n2, n3... take the next ones. 0: no MQTT. */
  readonly mqttBasePort: number;
  readonly dataDir: string;
  readonly count: number;
  readonly secret: string;
  /** Passed unchanged to every node (after `--` on the command line). */
  readonly nodeArgs: readonly string[];
}

/** The outcome of reading the command line. */
export type DevArgsResult =
  | { readonly kind: "options"; readonly options: DevClusterOptions }
  | { readonly kind: "help"; readonly text: string }
  | { readonly kind: "error"; readonly message: string };

/** The secret nodes prove to each other when `QUORUMQ_SECRET` is not set: dev use only. */
export const DEV_SECRET = "quorumq-dev-secret";
/** How long a node may take to stop after SIGTERM before it is killed. */
export const STOP_WAIT_MS = 15_000;
const LEADER_POLL_MS = 500;

const HELP =
  `deno task cluster [--base-port 8081] [--mqtt-base-port 1883] [--data ./data] [--count 3]
  [-- <node flags>]

Starts n1..nN on 127.0.0.1:<base-port>.. (MQTT on <mqtt-base-port>.., 0: off) with data in
<data>/n1..nN; Ctrl-C stops them all.
Node logs are printed here with an "nX | " prefix. QUORUMQ_SECRET sets the shared secret.`;

/** Reads `args` (and `QUORUMQ_SECRET` from `env`) into options; pure. */
export function parseDevArgs(args: readonly string[], env: Record<string, string>): DevArgsResult {
  const split = args.indexOf("--");
  const own = split < 0 ? [...args] : args.slice(0, split);
  const nodeArgs = split < 0 ? [] : args.slice(split + 1);
  let values;
  try {
    ({ values } = parseArgs({
      args: own,
      options: {
        "base-port": { type: "string" },
        "mqtt-base-port": { type: "string" },
        data: { type: "string" },
        count: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    return { kind: "error", message: (e as Error).message };
  }
  if (values.help) return { kind: "help", text: HELP };
  const basePort = Number(values["base-port"] ?? 8081);
  const count = Number(values.count ?? 3);
  if (!Number.isInteger(count) || count < 1 || count > 9) {
    return { kind: "error", message: `--count must be 1..9, got ${values.count}` };
  }
  if (!Number.isInteger(basePort) || basePort < 1 || basePort + count - 1 > 65_535) {
    return {
      kind: "error",
      message: `--base-port must be a port number, got ${values["base-port"]}`,
    };
  }
  const mqttBasePort = Number(values["mqtt-base-port"] ?? 1883);
  if (!Number.isInteger(mqttBasePort) || mqttBasePort < 0 || mqttBasePort + count - 1 > 65_535) {
    return {
      kind: "error",
      message: `--mqtt-base-port must be a port number, got ${values["mqtt-base-port"]}`,
    };
  }
  const secret = env.QUORUMQ_SECRET || DEV_SECRET;
  const dataDir = (values.data ?? "./data").replace(/\/+$/, "") || ".";
  return { kind: "options", options: { basePort, mqttBasePort, dataDir, count, secret, nodeArgs } };
}

/** One node of the dev cluster: its id, URL and the `deno` arguments that start it. */
export interface DevNode {
  readonly id: string;
  readonly url: string;
  readonly args: readonly string[];
}

/** The nodes to start: n1..nN on consecutive ports, each naming all as its peers. */
export function devNodes(options: DevClusterOptions, mainPath: string): DevNode[] {
  const ids = Array.from({ length: options.count }, (_, i) => `n${i + 1}`);
  const url = (i: number) => `http://127.0.0.1:${options.basePort + i}`;
  const peers = ids.map((id, i) => `${id}=${url(i)}`).join(",");
  return ids.map((id, i) => ({
    id,
    url: url(i),
    args: [
      "run",
      // The flags and permissions of `deno task start`.
      `--v8-flags=${V8_FLAGS}`,
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      mainPath,
      ...["--id", id, "--listen", `127.0.0.1:${options.basePort + i}`],
      ...["--data", `${options.dataDir}/${id}`, "--peers", peers, "--secret", options.secret],
      // A dev cluster on loopback stays open like the one-node quickstart; a cluster refuses
      // anonymous writes unless told (src/server/access.ts). With --auth-file, tokens decide.
      ...(anonymousAllowed(options) ? ["--allow-anonymous"] : []),
      ...(options.mqttBasePort === 0
        ? []
        : ["--mqtt-listen", `127.0.0.1:${options.mqttBasePort + i}`]),
      ...options.nodeArgs,
    ],
  }));
}

/** The dev cluster passes `--allow-anonymous` unless the node flags name an auth file. */
export function anonymousAllowed(options: DevClusterOptions): boolean {
  return !options.nodeArgs.some((a) => a === "--auth-file" || a.startsWith("--auth-file="));
}

/** Writes every line of `stream` to stdout with `prefix`. */
async function forwardLines(stream: ReadableStream<Uint8Array>, prefix: string): Promise<void> {
  let rest = "";
  const out = new TextEncoder();
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    if (lines.length > 0) {
      await Deno.stdout.write(out.encode(lines.map((l) => `${prefix}${l}\n`).join("")));
    }
  }
  if (rest !== "") await Deno.stdout.write(out.encode(`${prefix}${rest}\n`));
}

/** The leader every answering node agrees on, or undefined. */
async function agreedLeader(nodes: readonly DevNode[]): Promise<string | undefined> {
  const views = await Promise.all(nodes.map(async (n) => {
    try {
      const res = await fetch(`${n.url}/v1/cluster?consistency=stale`, {
        signal: AbortSignal.timeout(LEADER_POLL_MS),
      });
      return res.ok ? ((await res.json()) as { leaderId?: string | null }).leaderId : undefined;
    } catch {
      return undefined;
    }
  }));
  const known = views.filter((v): v is string => typeof v === "string" && v !== "");
  return known.length > nodes.length / 2 && known.every((v) => v === known[0])
    ? known[0]
    : undefined;
}

interface Running {
  readonly node: DevNode;
  readonly child: Deno.ChildProcess;
  /** Resolves once the process exited and its output was forwarded. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Marks the exit as asked for (no "exited on its own" line). */
  markStopping(): void;
}

type Say = (line: string) => void;

function spawnNode(n: DevNode, dataDir: string, say: Say): Running {
  Deno.mkdirSync(`${dataDir}/${n.id}`, { recursive: true });
  const child = new Deno.Command(Deno.execPath(), {
    args: [...n.args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // As `deno task start`: glibc's allocator gives freed memory back (src/server/memory.ts).
    env: { NO_COLOR: "1", GLIBC_TUNABLES: MALLOC_TUNABLES },
  }).spawn();
  const prefix = `${n.id} | `;
  const forwarded = Promise.all([
    forwardLines(child.stdout, prefix),
    forwardLines(child.stderr, prefix),
  ]).catch(() => {});
  say(`${n.id} listens on ${n.url} (data ${dataDir}/${n.id}, pid ${child.pid})`);
  let stopping = false;
  const status = child.status.then(async (s) => {
    await forwarded;
    if (!stopping) say(`${n.id} exited on its own with code ${s.code}`);
    return s;
  });
  return { node: n, child, status, markStopping: () => (stopping = true) };
}

/** SIGTERM (a node's graceful stop hands leadership over), then SIGKILL after STOP_WAIT_MS. */
async function stopNode(c: Running, say: Say): Promise<number> {
  c.markStopping();
  try {
    c.child.kill("SIGTERM");
  } catch { /* exited already */ }
  const timer = setTimeout(() => {
    say(`${c.node.id} did not stop within ${STOP_WAIT_MS} ms: SIGKILL`);
    try {
      c.child.kill("SIGKILL");
    } catch { /* exited already */ }
  }, STOP_WAIT_MS);
  const s = await c.status;
  clearTimeout(timer);
  say(`${c.node.id} stopped (code ${s.code}${s.signal ? `, ${s.signal}` : ""})`);
  return s.code;
}

/**
 * The line that tells how to talk to these nodes with `mq`: on the default ports `mq` finds them
 * by itself; elsewhere it needs `QUORUMQ_NODES`.
 */
export function mqHint(nodes: readonly DevNode[], basePort: number): string {
  const list = nodes.map((n) => n.url).join(",");
  return basePort === 8081 && nodes.length <= 3
    ? `mq: deno task mq queues (finds these nodes by itself; or QUORUMQ_NODES=${list})`
    : `mq: QUORUMQ_NODES=${list} deno task mq queues`;
}

/** Starts the nodes and runs until SIGINT or SIGTERM stops them; resolves to the exit code. */
export async function runDevCluster(options: DevClusterOptions): Promise<number> {
  const nodes = devNodes(options, new URL("./main.ts", import.meta.url).pathname);
  const say: Say = (line) => console.log(`cluster | ${line}`);
  say(`secret: ${options.secret}${options.secret === DEV_SECRET ? " (dev default)" : ""}`);
  say(
    anonymousAllowed(options)
      ? "anonymous: --allow-anonymous (dev only: no token needed on 127.0.0.1)"
      : "anonymous: refused (--auth-file given: send a bearer token)",
  );
  say(mqHint(nodes, options.basePort));
  const stopped = Promise.withResolvers<string>();
  const handlers = (["SIGINT", "SIGTERM"] as const).map((sig) => {
    const h = () => stopped.resolve(sig);
    Deno.addSignalListener(sig, h);
    return [sig, h] as const;
  });
  const running = nodes.map((n) => spawnNode(n, options.dataDir, say));

  let leader: string | undefined;
  const isStopped = stopped.promise.then(() => true);
  const poll = (async () => {
    while (!(await Promise.race([isStopped, sleep(LEADER_POLL_MS)]))) {
      const now = await agreedLeader(nodes);
      if (now !== undefined && now !== leader) say(`leader: ${now}`);
      leader = now ?? leader;
    }
  })();

  const signal = await stopped.promise;
  await poll;
  say(`${signal}: stopping ${nodes.map((n) => n.id).join(", ")}`);
  const codes = await Promise.all(running.map((c) => stopNode(c, say)));
  for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
  say(codes.every((c) => c === 0) ? "all stopped" : `exit codes ${codes.join(", ")}`);
  return codes.every((c) => c === 0) ? 0 : 1;
}

const sleep = (ms: number) => new Promise<false>((r) => setTimeout(() => r(false), ms));

if (import.meta.main) {
  const parsed = parseDevArgs(Deno.args, Deno.env.toObject());
  if (parsed.kind === "help") {
    console.log(parsed.text);
    Deno.exit(0);
  }
  if (parsed.kind === "error") {
    console.error(`cluster: ${parsed.message}\n\n${HELP}`);
    Deno.exit(2);
  }
  Deno.exit(await runDevCluster(parsed.options));
}
