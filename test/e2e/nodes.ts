/**
 * Test harness: real quorumq node processes (`src/main.ts`) on loopback, each with its own
 * port and data directory. Shared by the end-to-end, client and chaos tests.
 *
 * @module
 */

import { MALLOC_TUNABLES, V8_FLAGS } from "../../src/server/mod.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

/** Free loopback ports, found by binding port 0. */
export function freePorts(n: number): number[] {
  const listeners = Array.from(
    { length: n },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How many sets of ports `Nodes.start` tries. A port found free is released before the node
 * binds it, and another process may take it meanwhile (1 start in 23 clashed once under a
 * parallel test run): the node then exits at once, and the cluster is started again elsewhere.
 */
const PORT_ATTEMPTS = 4;

/** What a node prints when its listener's port is taken (`start_failed`). */
const ADDRESS_IN_USE = /address already in use|AddrInUse|os error 98/i;

export interface NodesOptions {
  /** Number of nodes (1, 3 or 5). */
  readonly count: number;
  readonly storage?: "fsync" | "memory";
  /** Extra flags for every node, e.g. ["--auth-file", path]. */
  readonly extraArgs?: readonly string[];
  /**
   * Without `--auth-file` in `extraArgs`, a cluster (or a node beyond loopback) refuses anonymous
   * writes and admin unless told `--allow-anonymous`: the harness says it, unless this is false.
   * Default true.
   */
  readonly allowAnonymous?: boolean;
  /** Enable the transport fault seam (`--test-faults`). */
  readonly testFaults?: boolean;
  /** Keep each node's stderr (JSON log lines) in memory. Default true. */
  readonly keepLogs?: boolean;
  /**
   * Also append each node's stderr to `<logDir>/<id>.log`, across restarts (the in-memory logs
   * hold only the current process's).
   */
  readonly logDir?: string;
  /**
   * The node entry point; default this tree's `src/main.ts`. The chaos suite points it at a copy
   * of the code taken when the run starts, so nodes restarted mid-run run the same version.
   */
  readonly main?: string;
  /** Parent directory for data; default a new temp dir removed by `stop()`. */
  readonly dataDir?: string;
  /** A bearer token with admin on `*`, sent by `cluster()` and `waitLeader()` when auth is on. */
  readonly adminToken?: string;
  /**
   * Where each node lives on the network; default every node on 127.0.0.1 in this process's
   * namespace. The chaos suite puts each node in its own network namespace (test/chaos/netlab.ts).
   */
  readonly network?: NodeNetwork;
  /** Extra environment of node `id`'s process (e.g. libfaketime's, to move its wall clock). */
  readonly env?: (id: string) => Record<string, string>;
  /**
   * TLS (test/testing/tls.ts): nodes are reached at `https://`, this harness trusts `caPem`,
   * and node `id` gets `args(id)` (its `--tls-*` / `--peer-*` flags).
   */
  readonly tls?: { readonly caPem: string; readonly args: (id: string) => readonly string[] };
  /** Picks the nodes' ports; default `freePorts` (a test of the harness hands out taken ones). */
  readonly pickPorts?: (n: number) => number[];
  /**
   * The launch commands' memory settings (`V8_FLAGS`, `MALLOC_TUNABLES`); default true. False
   * starts the nodes without them, for benchmarks that measure what they cost.
   */
  readonly memoryFlags?: boolean;
  /**
   * The nodes' V8 flags in place of `V8_FLAGS` (with `memoryFlags` not false), for benchmarks
   * that compare settings; an empty string runs them with V8's defaults.
   */
  readonly v8Flags?: string;
}

/** A node's address and the command prefix that runs a program where that address is. */
export interface NodeNetwork {
  /** The address node `id` listens on and is reached at. */
  host(id: string): string;
  /** A prefix for the node's command line, e.g. `["ip", "netns", "exec", ns]`; it must exec. */
  wrap(id: string): string[];
}

interface Proc {
  readonly child: Deno.ChildProcess;
  readonly logs: string[];
  readonly exited: Promise<Deno.CommandStatus>;
  /** Set once the process has exited (on its own or killed); `head`: its first stderr. */
  readonly state: { exitCode?: number; head: string };
  /** Resolves once its stderr was read to the end. */
  readonly read: Promise<void>;
}

/** A set of real nodes. Ids are n1..nN. */
export class Nodes {
  readonly ids: string[];
  readonly dataDir: string;
  /** Unique per harness instance (see `spawn`). */
  readonly clusterId = `test-${crypto.randomUUID().slice(0, 8)}`;
  #ports = new Map<string, number>();
  #procs = new Map<string, Proc>();
  #opts: NodesOptions;
  #ownDir: boolean;
  #joiners = new Set<string>();

  private constructor(opts: NodesOptions, dataDir: string, ownDir: boolean) {
    this.#opts = opts;
    this.ids = Array.from({ length: opts.count }, (_, i) => `n${i + 1}`);
    (opts.pickPorts ?? freePorts)(opts.count).forEach((p, i) => this.#ports.set(this.ids[i], p));
    this.dataDir = dataDir;
    this.#ownDir = ownDir;
  }

  /**
   * Starts every node and waits until they agree on a leader. When they do not, it stops them
   * (and removes its temp dir) before throwing, so a failed start leaks no processes.
   */
  static async start(opts: NodesOptions): Promise<Nodes> {
    const own = opts.dataDir === undefined;
    const dir = opts.dataDir ?? await Deno.makeTempDir({ prefix: "quorumq-nodes-" });
    for (let attempt = 1;; attempt++) {
      const nodes = new Nodes(opts, dir, own);
      // Only a cluster started from nothing may move: a data directory holds its members' URLs.
      const fresh = await nodes.#noDataYet();
      for (const id of nodes.ids) nodes.spawn(id);
      try {
        await nodes.waitLeader(30_000, true);
        return nodes;
      } catch (e) {
        const clash = await nodes.#portTaken();
        if (clash === undefined || !fresh || attempt >= PORT_ATTEMPTS) {
          await nodes.stop();
          throw e;
        }
        await Promise.all(nodes.live().map((id) => nodes.kill(id)));
        for (const id of nodes.ids) await nodes.wipe(id);
      }
    }
  }

  /** No node of this harness has a data directory yet. */
  async #noDataYet(): Promise<boolean> {
    for (const id of this.ids) {
      const there = await Deno.stat(this.nodeDataDir(id)).then(() => true, () => false);
      if (there) return false;
    }
    return true;
  }

  /** A node that exited because its port was taken, if any. */
  async #portTaken(): Promise<string | undefined> {
    for (const [id, p] of this.#procs) {
      if (p.state.exitCode === undefined) continue;
      await p.read; // the process has ended: its stderr ends too
      if (ADDRESS_IN_USE.test(p.state.head)) return id;
    }
    return undefined;
  }

  url(id: string): string {
    return `${this.#opts.tls ? "https" : "http"}://${this.#host(id)}:${this.#ports.get(id)}`;
  }

  #httpClient: Deno.HttpClient | undefined;

  /** `fetch` that trusts the harness's CA when the nodes are on TLS. */
  fetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
    const tls = this.#opts.tls;
    if (tls === undefined) return fetch(input, init);
    this.#httpClient ??= Deno.createHttpClient({ caCerts: [tls.caPem] });
    return fetch(input, { ...init, client: this.#httpClient });
  }

  /** The TCP port node `id` listens on. */
  port(id: string): number {
    return this.#ports.get(id)!;
  }

  #host(id: string): string {
    return this.#opts.network?.host(id) ?? "127.0.0.1";
  }

  urls(): string[] {
    return this.ids.map((id) => this.url(id));
  }

  live(): string[] {
    return [...this.#procs.keys()];
  }

  isLive(id: string): boolean {
    return this.#procs.has(id);
  }

  /** The exit code of a process that ended while still counted live (it died on its own). */
  exitCode(id: string): number | undefined {
    return this.#procs.get(id)?.state.exitCode;
  }

  pid(id: string): number | undefined {
    return this.#procs.get(id)?.child.pid;
  }

  logs(id: string): string {
    return this.#procs.get(id)?.logs.join("") ?? "";
  }

  nodeDataDir(id: string): string {
    return `${this.dataDir}/${id}`;
  }

  /**
   * Registers a new node id on a fresh port (not in `ids`, so no bootstrap configuration names
   * it); start it with `spawn(id)` (it joins) and add it through `POST /v1/cluster/members`.
   */
  addId(id: string): void {
    if (this.#ports.has(id)) throw new Error(`Cannot add node ${id}: the id was used before`);
    this.#ports.set(id, freePorts(1)[0]);
    this.#joiners.add(id);
  }

  /** From now on node `id` starts with `--join` (a member removed to be added again). */
  rejoin(id: string): void {
    this.#joiners.add(id);
  }

  /** Every id this harness has a port for: the initial ones and those added by `addId`. */
  allIds(): string[] {
    return [...this.#ports.keys()];
  }

  /** Does node `id` need `--allow-anonymous` to stay open to the tests' anonymous calls? */
  /** `--v8-flags=...` for a node's command line: `V8_FLAGS` or the options' own, if any. */
  #v8FlagsArgs(): string[] {
    const flags = this.#opts.v8Flags ?? V8_FLAGS;
    return flags === "" ? [] : [`--v8-flags=${flags}`];
  }

  #anonymousFlag(id: string, joiner: boolean): boolean {
    if (this.#opts.allowAnonymous === false) return false;
    if (this.#opts.extraArgs?.includes("--auth-file")) return false;
    const host = this.#host(id);
    return this.ids.length > 1 || joiner || !(host === "127.0.0.1" || host === "localhost");
  }

  /** Removes a stopped node's data directory (a wiped disk). */
  async wipe(id: string): Promise<void> {
    if (this.#procs.has(id)) throw new Error(`Cannot wipe ${id}: it is running`);
    await Deno.remove(this.nodeDataDir(id), { recursive: true }).catch(() => {});
  }

  /**
   * Starts node `id` (again) with its data directory as it is. A node added by `addId` starts
   * with `--join` and every known node in `--peers`, so it can answer the leader before it has
   * learnt the member URLs from the log.
   */
  spawn(id: string): void {
    if (this.#procs.has(id)) throw new Error(`Cannot start ${id}: it is running`);
    const joiner = this.#joiners.has(id);
    const peers = (joiner ? this.allIds() : this.ids).map((p) => `${p}=${this.url(p)}`).join(",");
    const args = [
      "run",
      // As `deno task start`: the node collects garbage when it turns quiet, with a smaller young
      // generation (src/server/memory.ts).
      ...(this.#opts.memoryFlags === false ? [] : this.#v8FlagsArgs()),
      // Request signals abort only when the client goes away (long polls watch them).
      "--unstable-no-legacy-abort",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      this.#opts.main ?? MAIN,
      "--id",
      id,
      "--listen",
      `${this.#host(id)}:${this.#ports.get(id)}`,
      "--data",
      this.nodeDataDir(id),
      "--storage",
      this.#opts.storage ?? "fsync",
      ...(this.ids.length > 1 ? ["--peers", peers, "--secret", "test-cluster-secret"] : []),
      // Every test cluster its own id: test files run in parallel and reuse each other's freed
      // ports, and a node that dials a port now held by another cluster's node must be refused
      // (link auth checks the cluster id), not merge two clusters' logs.
      "--cluster-id",
      this.clusterId,
      ...(joiner ? ["--join"] : []),
      ...(this.#anonymousFlag(id, joiner) ? ["--allow-anonymous"] : []),
      ...(this.#opts.testFaults ? ["--test-faults"] : []),
      ...(this.#opts.extraArgs ?? []),
      ...(this.#opts.tls?.args(id) ?? []),
    ];
    // `ip netns exec` execs the program, so the child's pid is the node's: signals reach it.
    const [cmd, ...pre] = [...(this.#opts.network?.wrap(id) ?? []), Deno.execPath()];
    const child = new Deno.Command(cmd, {
      args: [...pre, ...args],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      // As `deno task start` and deploy/: glibc's allocator gives freed memory back.
      env: {
        NO_COLOR: "1",
        ...(this.#opts.memoryFlags === false ? {} : { GLIBC_TUNABLES: MALLOC_TUNABLES }),
        ...this.#opts.env?.(id),
      },
    }).spawn();
    const logs: string[] = [];
    const state: { exitCode?: number; head: string } = { head: "" };
    const keep = this.#opts.keepLogs ?? true;
    const logDir = this.#opts.logDir;
    const read = (async () => {
      const decoder = new TextDecoder();
      const file = logDir === undefined ? undefined : await Deno.open(`${logDir}/${id}.log`, {
        create: true,
        append: true,
      });
      try {
        for await (const chunk of child.stderr) {
          const text = decoder.decode(chunk);
          if (state.head.length < 8192) state.head += text;
          if (keep) logs.push(text);
          await file?.write(chunk);
        }
      } finally {
        file?.close();
      }
    })().catch(() => {});
    child.status.then((s) => state.exitCode = s.code, () => state.exitCode = -1);
    this.#procs.set(id, { child, logs, exited: child.status, state, read });
  }

  /**
   * Sends a signal; SIGKILL and SIGTERM wait for the exit (SIGKILL after 15 s), forget the
   * process and answer its exit status (`timedOut` when it had to be killed).
   */
  async signal(
    id: string,
    sig: Deno.Signal,
  ): Promise<{ status: Deno.CommandStatus; timedOut: boolean } | undefined> {
    const p = this.#procs.get(id);
    if (!p) return undefined;
    try {
      p.child.kill(sig);
    } catch { /* gone already */ }
    if (sig === "SIGKILL" || sig === "SIGTERM") {
      const timeout = sleep(15_000).then(() => "timeout" as const);
      const r = await Promise.race([p.exited, timeout]);
      if (r === "timeout") {
        try {
          p.child.kill("SIGKILL");
        } catch { /* gone */ }
      }
      const status = await p.exited;
      this.#procs.delete(id);
      return { status, timedOut: r === "timeout" };
    }
    return undefined;
  }

  async kill(id: string): Promise<void> {
    await this.signal(id, "SIGKILL");
  }

  async restart(id: string): Promise<void> {
    await this.kill(id);
    this.spawn(id);
  }

  // deno-lint-ignore no-explicit-any
  async cluster(id: string, timeoutMs = 1000): Promise<any> {
    const token = this.#opts.adminToken;
    // A cluster that refuses anonymous admin (allowAnonymous: false, no token) answers
    // /v1/cluster 403; its public /readyz names the leader once the node is ready.
    const path = this.#opts.allowAnonymous === false && token === undefined
      ? "/readyz"
      : "/v1/cluster?consistency=stale";
    const res = await this.fetch(`${this.url(id)}${path}`, {
      signal: AbortSignal.timeout(timeoutMs),
      ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`GET /v1/cluster on ${id} answered ${res.status}`);
    }
    return await res.json();
  }

  /**
   * The leader every live node agrees on. Bounded by `timeoutMs`. `failOnExit`: a node process
   * that ended meanwhile (one that could not start) fails the wait at once.
   */
  async waitLeader(timeoutMs = 30_000, failOnExit = false): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let seen = "";
    while (Date.now() < deadline) {
      const ended = failOnExit
        ? this.live().find((id) => this.exitCode(id) !== undefined)
        : undefined;
      if (ended !== undefined) {
        await this.#procs.get(ended)?.read;
        const head = this.#procs.get(ended)?.state.head.slice(-600) ?? "";
        throw new Error(`Node ${ended} exited (${this.exitCode(ended)}) while starting: ${head}`);
      }
      const views = await Promise.all(
        this.live().map((id) => this.cluster(id).catch(() => undefined)),
      );
      const leaders = new Set(views.map((v) => v?.leaderId ?? ""));
      const [only] = [...leaders];
      if (leaders.size === 1 && only && this.isLive(only)) return only;
      seen = [...leaders].join(",");
      await sleep(100);
    }
    throw new Error(`No leader agreed on within ${timeoutMs} ms (seen: ${seen})`);
  }

  /** SIGKILLs every node and removes the data directory if this harness made it. */
  async stop(): Promise<void> {
    await Promise.all(this.live().map((id) => this.kill(id)));
    this.#httpClient?.close();
    this.#httpClient = undefined;
    if (this.#ownDir) await Deno.remove(this.dataDir, { recursive: true }).catch(() => {});
  }
}

/** The leader's proposals and the entries that carried them so far (its `/metrics`). */
export async function proposalCounts(url: string): Promise<{ proposals: number; entries: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) =>
    Number(text.match(new RegExp(`^${name}(?:{[^}]*})? (\\S+)$`, "m"))?.[1] ?? NaN);
  return {
    proposals: value("quorumq_proposals_total"),
    entries: value("quorumq_proposal_entries_total"),
  };
}
