/**
 * `deno task edge --upstream <node URL,...> --listen <host:port> [--runtime workerd|deno]`: runs
 * the edge gateway locally, in `workerd` (the Worker module, bundled here with esbuild, with a
 * config written at run time) or in Deno (`deno.ts`), as a child process; it stops with this
 * one. `startEdge` does the same for tests and benchmarks.
 *
 * Options: `--token-file <file>` (or `QUORUMQ_EDGE_TOKEN`): the gateway's relay token;
 * `--upstream-ca <pem>`: the CA of `https://`/`wss://` upstreams; `--max-body-bytes <n>`;
 * `--no-follow-leader`; `--stale-cache-ms <n>` (0: off); `--cors-origin <origins>`.
 * `deno task edge --bundle <file.js>` only writes the Worker module (for
 * `wrangler deploy`) and exits. docs/edge.md.
 *
 * @module
 */

import * as esbuild from "esbuild";
import { parseArgs } from "node:util";
import { workerdConfig } from "./workerd_config.ts";

/** Options of `startEdge`. */
export interface StartEdgeOptions {
  readonly runtime: "workerd" | "deno";
  readonly upstream: readonly string[];
  /** `host:port`; port 0 picks a free one. */
  readonly listen: string;
  readonly token?: string;
  readonly caFile?: string;
  readonly maxBodyBytes?: number;
  readonly followLeader?: boolean;
  /** How long a stale read's answer is served again, in ms; 0: off. Default: the gateway's. */
  readonly staleCacheMs?: number;
  /** Origins whose browser apps may call the gateway (CORS), comma-separated; `*`: any. */
  readonly corsOrigin?: string;
  /**
   * workerd: > 0 turns on the isolate-hosted stream, each request hosting it this long, ms
   * (`worker_host.ts`); unset: every call goes to the Durable Object (the default).
   */
  readonly hostMs?: number;
  /**
   * workerd: V8 flags in its config (tests: `--invocation-count-for-turbofan=...` makes V8
   * optimize the hot paths within a few hundred calls, not ~17,000). Default none.
   */
  readonly v8Flags?: readonly string[];
  /** Where the child's output goes; default inherited. */
  readonly output?: "inherit" | "null";
}

/** A running gateway process. */
export interface RunningEdge {
  readonly url: string;
  readonly child: Deno.ChildProcess;
  stop(): Promise<void>;
}

const here = new URL(".", import.meta.url);
const root = new URL("../../", import.meta.url);

/** Starts a gateway process and waits until its `/healthz` answers. */
export async function startEdge(o: StartEdgeOptions): Promise<RunningEdge> {
  const [hostname, portText] = splitHostPort(o.listen);
  const port = Number(portText) === 0 ? freePort(hostname) : Number(portText);
  const vars: Record<string, string> = { QUORUMQ_UPSTREAM: o.upstream.join(",") };
  if (o.token !== undefined) vars.QUORUMQ_EDGE_TOKEN = o.token;
  if (o.maxBodyBytes !== undefined) vars.QUORUMQ_EDGE_MAX_BODY_BYTES = String(o.maxBodyBytes);
  if (o.followLeader === false) vars.QUORUMQ_EDGE_FOLLOW_LEADER = "false";
  if (o.staleCacheMs !== undefined) vars.QUORUMQ_EDGE_STALE_CACHE_MS = String(o.staleCacheMs);
  if (o.corsOrigin !== undefined) vars.QUORUMQ_EDGE_CORS_ORIGIN = o.corsOrigin;
  if (o.hostMs !== undefined) vars.QUORUMQ_EDGE_HOST_MS = String(o.hostMs);
  const dir = await Deno.makeTempDir({ prefix: "quorumq-edge-" });
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  let command: Deno.Command;
  if (o.runtime === "workerd") {
    await bundleWorker(`${dir}/worker.js`);
    if (o.caFile !== undefined) await Deno.copyFile(o.caFile, `${dir}/ca.pem`);
    await Deno.writeTextFile(
      `${dir}/config.capnp`,
      workerdConfig({
        module: "worker.js",
        listen: `${host}:${port}`,
        vars,
        ...(o.caFile !== undefined ? { caFile: "ca.pem" } : {}),
        ...(o.v8Flags !== undefined ? { v8Flags: o.v8Flags } : {}),
      }),
    );
    command = new Deno.Command(workerdBinary(), {
      args: ["serve", `${dir}/config.capnp`, "--experimental"],
      stdout: o.output === "null" ? "null" : "inherit",
      stderr: o.output === "null" ? "null" : "inherit",
    });
  } else {
    command = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        // Without it every answered request's signal aborts, one DOMException each (~1% CPU).
        "--unstable-no-legacy-abort",
        "--allow-net",
        "--allow-env",
        ...(o.caFile !== undefined ? [`--allow-read=${o.caFile}`] : []),
        new URL("deno.ts", here).pathname,
      ],
      env: {
        ...vars,
        PORT: String(port),
        QUORUMQ_EDGE_HOST: hostname,
        ...(o.caFile !== undefined ? { QUORUMQ_EDGE_CA_FILE: o.caFile } : {}),
      },
      stdout: o.output === "null" ? "null" : "inherit",
      stderr: o.output === "null" ? "null" : "inherit",
    });
  }
  const child = command.spawn();
  const url = `http://${host}:${port}`;
  const stop = async () => {
    const signal = (sig: Deno.Signal) => {
      try {
        child.kill(sig);
      } catch {
        // Already gone.
      }
    };
    signal("SIGTERM");
    // A process that ignores SIGTERM (seen once with workerd) is killed after 5 s.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((r) => timer = setTimeout(r, 5_000));
    await Promise.race([child.status, late.then(() => signal("SIGKILL"))]);
    clearTimeout(timer);
    await child.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await waitHealthy(url, child);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, child, stop };
}

/**
 * Bundles the Worker module (`worker.ts` and all it imports; or the module at `entry`, a
 * benchmark's) into one ES module.
 */
export async function bundleWorker(outfile: string, entry?: string): Promise<void> {
  try {
    await esbuild.build({
      entryPoints: [entry ?? new URL("worker.ts", here).pathname],
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      mainFields: ["module", "main"],
      conditions: ["workerd", "worker", "browser"],
      absWorkingDir: new URL(root).pathname,
      outfile,
      logLevel: "warning",
    });
  } finally {
    await esbuild.stop();
  }
}

/** The `workerd` binary npm's `workerd` package installed for this platform. */
export function workerdBinary(): string {
  const os = { linux: "linux", darwin: "darwin", windows: "windows" }[Deno.build.os as string];
  const arch = Deno.build.arch === "aarch64" ? "arm64" : "64";
  if (os === undefined) throw new Error(`workerd does not run on ${Deno.build.os}`);
  const pkg = Deno.realPathSync(new URL("node_modules/workerd", root));
  const bin = `${pkg}/../@cloudflare/workerd-${os}-${arch}/bin/workerd${
    os === "windows" ? ".exe" : ""
  }`;
  try {
    Deno.statSync(bin);
  } catch {
    throw new Error(`No workerd binary at ${bin}: run deno install (npm package workerd)`);
  }
  return bin;
}

async function waitHealthy(url: string, child: Deno.ChildProcess): Promise<void> {
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + 30_000;
  // Bounded by the deadline (and the child's exit).
  while (Date.now() < deadline && !exited) {
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) });
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(exited ? "The gateway exited while starting" : `${url}/healthz never answered`);
}

function splitHostPort(listen: string): [string, string] {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(listen);
  if (m === null) throw new Error(`--listen must be host:port, not ${listen}`);
  return [m[1], m[2]];
}

function freePort(hostname: string): number {
  const l = Deno.listen({ hostname, port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      upstream: { type: "string" },
      listen: { type: "string", default: "127.0.0.1:8787" },
      runtime: { type: "string", default: "deno" },
      "token-file": { type: "string" },
      "upstream-ca": { type: "string" },
      "max-body-bytes": { type: "string" },
      "no-follow-leader": { type: "boolean", default: false },
      "stale-cache-ms": { type: "string" },
      "cors-origin": { type: "string" },
      bundle: { type: "string" },
    },
  });
  if (values.bundle !== undefined) {
    await bundleWorker(values.bundle);
    console.error(`wrote the Worker module to ${values.bundle}`);
    Deno.exit(0);
  }
  if (values.upstream === undefined || !["workerd", "deno"].includes(values.runtime!)) {
    console.error(
      "usage: deno task edge --upstream <node URL,...> [--listen host:port] " +
        "[--runtime workerd|deno] [--token-file f] [--upstream-ca pem] [--max-body-bytes n] " +
        "[--no-follow-leader] [--stale-cache-ms n] [--cors-origin origins]\n       deno task edge --bundle <file.js>",
    );
    Deno.exit(2);
  }
  const token = values["token-file"] !== undefined
    ? (await Deno.readTextFile(values["token-file"])).trim()
    : Deno.env.get("QUORUMQ_EDGE_TOKEN");
  const edge = await startEdge({
    runtime: values.runtime as "workerd" | "deno",
    upstream: values.upstream.split(",").map((s) => s.trim()).filter((s) => s !== ""),
    listen: values.listen!,
    ...(token !== undefined ? { token } : {}),
    ...(values["upstream-ca"] !== undefined ? { caFile: values["upstream-ca"] } : {}),
    ...(values["max-body-bytes"] !== undefined
      ? { maxBodyBytes: Number(values["max-body-bytes"]) }
      : {}),
    followLeader: !values["no-follow-leader"],
    ...(values["stale-cache-ms"] !== undefined
      ? { staleCacheMs: Number(values["stale-cache-ms"]) }
      : {}),
    ...(values["cors-origin"] !== undefined ? { corsOrigin: values["cors-origin"] } : {}),
  });
  console.error(`edge gateway (${values.runtime}) on ${edge.url} -> ${values.upstream}`);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => edge.stop().then(() => Deno.exit(0)));
  }
  const status = await edge.child.status;
  Deno.exit(status.code);
}
