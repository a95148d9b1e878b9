/**
 * Test helper: runs `kv_node.ts` processes on loopback and talks to them.
 *
 * @module
 */

import { freePorts } from "../e2e/nodes.ts";

const NODE = new URL("./kv_node.ts", import.meta.url).pathname;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Proc {
  child: Deno.ChildProcess;
  stderr: string[];
}

export class KvCluster {
  readonly ids: string[];
  #ports = new Map<string, number>();
  #procs = new Map<string, Proc>();
  #dir: string;
  #snapshotEvery: number;
  #clusterId = `kv-${crypto.randomUUID().slice(0, 8)}`;

  private constructor(ids: string[], ports: number[], dir: string, snapshotEvery: number) {
    this.ids = ids;
    ids.forEach((id, i) => this.#ports.set(id, ports[i]));
    this.#dir = dir;
    this.#snapshotEvery = snapshotEvery;
  }

  static async start(n: number, opts: { snapshotEvery: number }): Promise<KvCluster> {
    const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    const c = new KvCluster(ids, freePorts(n), await Deno.makeTempDir(), opts.snapshotEvery);
    for (const id of ids) c.#spawn(id);
    return c;
  }

  #spawn(id: string): void {
    const peers = this.ids.map((p) => `${p}=${this.#ports.get(p)}`).join(",");
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        NODE,
        id,
        String(this.#ports.get(id)),
        `${this.#dir}/${id}`,
        peers,
        String(this.#snapshotEvery),
        this.#clusterId,
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const proc: Proc = { child, stderr: [] };
    (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stderr) proc.stderr.push(decoder.decode(chunk));
    })().catch(() => {});
    this.#procs.set(id, proc);
  }

  kill(id: string): void {
    const p = this.#procs.get(id);
    if (!p) return;
    try {
      p.child.kill("SIGKILL");
    } catch { /* already gone */ }
    this.#procs.delete(id);
  }

  async restart(id: string): Promise<void> {
    this.kill(id);
    await sleep(50);
    this.#spawn(id);
  }

  stderrOf(id: string): string {
    return this.#procs.get(id)?.stderr.join("") ?? "";
  }

  url(id: string): string {
    return `http://127.0.0.1:${this.#ports.get(id)}`;
  }

  async #get(id: string, path: string): Promise<unknown> {
    const res = await fetch(`${this.url(id)}${path}`, { signal: AbortSignal.timeout(2000) });
    return await res.json();
  }

  // deno-lint-ignore no-explicit-any
  status(id: string): Promise<any> {
    return this.#get(id, "/status");
  }

  dump(id: string): Promise<Record<string, string>> {
    return this.#get(id, "/dump") as Promise<Record<string, string>>;
  }

  /** The id of a leader that every live node agrees on. Bounded by 20 s. */
  async waitLeader(): Promise<string> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const leaders = new Set<string>();
      let answered = 0;
      for (const id of this.#procs.keys()) {
        try {
          const s = await this.status(id);
          answered++;
          leaders.add(s.leaderId);
        } catch { /* not up yet */ }
      }
      const [only] = [...leaders];
      if (answered === this.#procs.size && leaders.size === 1 && only && this.#procs.has(only)) {
        return only;
      }
      await sleep(100);
    }
    throw new Error("No leader agreed on within 20 s");
  }

  /** Puts through any live node, following leader hints, retrying for up to 20 s. */
  async put(key: string, value: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    let i = 0;
    while (Date.now() < deadline) {
      const live = [...this.#procs.keys()];
      const id = live[i++ % live.length];
      try {
        const res = await fetch(
          `${this.url(id)}/put?key=${encodeURIComponent(key)}&value=${encodeURIComponent(value)}`,
          { method: "POST", signal: AbortSignal.timeout(5000) },
        );
        await res.body?.cancel();
        if (res.status === 200) return;
      } catch { /* node down or slow: try another */ }
      await sleep(50);
    }
    throw new Error(`Put ${key} not acknowledged within 20 s`);
  }

  /** Waits until every live node holds every key in `keys` with the same dump. Bounded 30 s. */
  async waitConverged(keys: string[]): Promise<void> {
    const deadline = Date.now() + 30_000;
    let last = "";
    while (Date.now() < deadline) {
      try {
        const dumps = await Promise.all([...this.#procs.keys()].map((id) => this.dump(id)));
        const complete = dumps.every((d) => keys.every((k) => k in d));
        const same = dumps.every((d) => JSON.stringify(d) === JSON.stringify(dumps[0]));
        if (complete && same) return;
        last = dumps.map((d) => Object.keys(d).length).join("/");
      } catch (e) {
        last = String(e);
      }
      await sleep(100);
    }
    throw new Error(`Nodes did not converge within 30 s (key counts ${last})`);
  }

  async stop(): Promise<void> {
    for (const id of [...this.#procs.keys()]) this.kill(id);
    await sleep(50);
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}
