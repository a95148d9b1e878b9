/**
 * Runs a node exactly as a deploy file starts it, on this machine: the file's command line and
 * environment with only its places moved. Addresses go to loopback ports (`https://n1:8080` and
 * `0.0.0.0:8080` to `localhost:<port>`), the paths a container or systemd provides go into a temp
 * dir (`/data`, `/run/secrets/`, `/etc/quorumq/`, systemd's `%S`, `%d`, `%i`), `deno` is this
 * Deno, and the cluster id is the test's own (test files run in parallel and reuse each other's
 * ports). The files each option names are written where the launch looks for them, by their file
 * name: what a volume, a compose secret or a systemd credential would put there.
 *
 * @module
 */

import { FILE_OPTIONS } from "./deploy_checks.ts";
import { type Launch, REPO_ROOT } from "./deploy_files.ts";
import { envName } from "../../src/config.ts";

/** Where one node runs here. */
export interface Place {
  readonly id: string;
  readonly port: number;
  /** This node's temp dir: its data, secrets and state go under it. */
  readonly dir: string;
}

/** The contents of the files a deployment mounts, by file name (`tls.key`, `auth.json`, ...). */
export type Materials = Readonly<Record<string, string>>;

/** The moves of one node: ordered string replacements, applied to argv and env values. */
export function moves(place: Place, hosts: ReadonlyMap<string, number>): [string, string][] {
  const out: [string, string][] = [];
  for (const [host, port] of hosts) out.push([`https://${host}:8080`, `https://localhost:${port}`]);
  out.push(
    ["0.0.0.0:8080", `127.0.0.1:${place.port}`],
    ["/run/secrets/", `${place.dir}/secrets/`],
    ["/etc/quorumq/%i/", `${place.dir}/etc/`],
    ["/etc/quorumq/", `${place.dir}/etc/`],
    ["%S/", `${place.dir}/state/`],
    ["%d/", `${place.dir}/credentials/`],
    ["%i", place.id],
  );
  return out;
}

function move(value: string, place: Place, table: [string, string][]): string {
  if (value === "/data") return `${place.dir}/data`;
  for (const [from, to] of table) value = value.replaceAll(from, to);
  return value;
}

/** A launch ready to spawn: argv[0] is this Deno, the env is complete (no inherited QUORUMQ_*). */
export interface LocalLaunch {
  readonly argv: string[];
  readonly env: Record<string, string>;
  readonly cwd: string;
}

export function localize(
  launch: Launch,
  place: Place,
  hosts: ReadonlyMap<string, number>,
  clusterId: string,
): LocalLaunch {
  const table = moves(place, hosts);
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(launch.env)) {
    if (key === "DENO_DIR") continue; // the image's cache: here, this Deno's own
    env[key] = move(value, place, table);
  }
  env[envName("cluster-id")] = clusterId;
  const argv = launch.argv.map((a) => move(a, place, table));
  if (argv[0] !== "deno") throw new Error(`${launch.file} does not start deno: ${argv[0]}`);
  return { argv: [Deno.execPath(), ...argv.slice(1)], env, cwd: REPO_ROOT };
}

/** Writes each file an option names (by its file name from `materials`) and makes the data dir. */
export async function provide(local: LocalLaunch, materials: Materials): Promise<void> {
  for (const flag of FILE_OPTIONS) {
    const path = local.env[envName(flag)];
    if (path === undefined) continue;
    const name = path.slice(path.lastIndexOf("/") + 1);
    const text = materials[name];
    if (text === undefined) throw new Error(`No material named ${name} for ${envName(flag)}`);
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, text, { mode: 0o600 });
  }
  const data = local.env[envName("data")];
  if (data !== undefined) await Deno.mkdir(data, { recursive: true, mode: 0o700 });
}

/** The environment a node gets besides its own: enough for Deno to find its cache. */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const key of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(key);
    if (value !== undefined) env[key] = value;
  }
  return env;
}

/** A running node process and its stderr (JSON log lines), for a failure's message. */
export class LaunchedNode {
  readonly #child: Deno.ChildProcess;
  readonly #log: string[] = [];
  readonly exited: Promise<Deno.CommandStatus>;
  readonly #done: Promise<void>;

  constructor(readonly id: string, command: string, args: string[], local: LocalLaunch) {
    this.#child = new Deno.Command(command, {
      args,
      cwd: local.cwd,
      env: { ...baseEnv(), ...local.env },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#done = Promise.all([this.#drain(this.#child.stdout), this.#drain(this.#child.stderr)])
      .then(() => {});
    this.exited = this.#child.status;
  }

  async #drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      if (this.#log.length < 2_000) this.#log.push(chunk);
    }
  }

  /** The last lines it wrote. */
  tail(lines = 15): string {
    return this.#log.join("").split("\n").slice(-lines).join("\n");
  }

  /** SIGTERM (the graceful stop every deploy file uses) and its exit code; SIGKILL after 15 s. */
  async stop(): Promise<number> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // already exited
    }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // already exited
      }
    }, 15_000);
    const status = await this.exited;
    clearTimeout(timer);
    await this.#done;
    return status.code;
  }
}

/** Spawns a localized launch: `argv` directly. */
export function spawnLaunch(id: string, local: LocalLaunch): LaunchedNode {
  return new LaunchedNode(id, local.argv[0], local.argv.slice(1), local);
}

/** Spawns a shell script (the StatefulSet's) with `deno` on its PATH being this Deno. */
export function spawnScript(id: string, script: string, local: LocalLaunch): LaunchedNode {
  const bin = Deno.execPath().slice(0, Deno.execPath().lastIndexOf("/"));
  const path = `${bin}:${local.env.PATH ?? Deno.env.get("PATH") ?? "/usr/bin:/bin"}`;
  return new LaunchedNode(id, "/bin/sh", ["-c", script], {
    ...local,
    env: { ...local.env, PATH: path },
  });
}
