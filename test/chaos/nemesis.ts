/**
 * The nemesis: faults on a seeded schedule against real node processes. One fault at a time:
 * inject, hold, heal, then a short quiet gap. The schedule (kinds, victims, durations) comes
 * from the seed; the timing of the processes does not, so a seed replays the same plan, not the
 * same interleaving.
 *
 * @module
 */

import type { Nodes } from "../e2e/nodes.ts";
import type { Prng } from "../sim/prng.ts";
import type { History } from "./history.ts";
import { corruptMiddle, cutToDurable, tearTail } from "./disk.ts";

/** Every fault kind, as counted in the summary. */
export const FAULT_KINDS = [
  "kill-leader",
  "kill-random",
  "kill-minority",
  "pause-leader",
  "pause-random",
  "restart",
  "partition-halves",
  "isolate-leader",
  "bridge",
  "one-way",
  "flaky-links",
  "net-partition-halves",
  "net-isolate-leader",
  "net-bridge",
  "net-one-way",
  "net-flaky-links",
  "power-loss",
  "power-loss-all",
  "corrupt",
  "member-replace",
] as const;
export type FaultKind = typeof FAULT_KINDS[number];

/** The kinds that need real network namespaces (`NetLab`): root, `ip` and `iptables`. */
export const NET_FAULT_KINDS: readonly FaultKind[] = FAULT_KINDS.filter((k) =>
  k.startsWith("net-")
);

/** The real network the `net-*` kinds cut (see netlab.ts). */
export interface NetCutter {
  cut(from: string, to: string): Promise<void>;
  lossy(from: string, to: string, probability: number): Promise<void>;
  heal(): Promise<void>;
}

/** A link fault's shape: directed cuts and lossy links, each `[from, to]`. */
interface LinkPlan {
  readonly detail: string;
  readonly cuts: readonly (readonly [string, string])[];
  readonly lossy: readonly (readonly [string, string])[];
}

const WEIGHTS: Record<FaultKind, number> = {
  "kill-leader": 3,
  "kill-random": 2,
  "kill-minority": 2,
  "pause-leader": 2,
  "pause-random": 2,
  "restart": 1,
  "partition-halves": 2,
  "isolate-leader": 2,
  "bridge": 1,
  "one-way": 1,
  "flaky-links": 1,
  "net-partition-halves": 2,
  "net-isolate-leader": 2,
  "net-bridge": 1,
  "net-one-way": 1,
  "net-flaky-links": 1,
  "power-loss": 2,
  "power-loss-all": 1,
  "corrupt": 1,
  "member-replace": 1,
};

export interface NemesisOptions {
  /** Hold each fault this long (ms), drawn uniformly. Pauses always outlast the ~1 s election timeout. */
  readonly holdMs: readonly [number, number];
  /** Quiet time between faults (ms). */
  readonly gapMs: readonly [number, number];
  /** Only these kinds (default: all). */
  readonly kinds?: readonly FaultKind[];
  /** The real network for the `net-*` kinds; without it they must not be among `kinds`. */
  readonly net?: NetCutter;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Drives faults until `stop()`; `heal()` then brings every member back. */
export class Nemesis {
  /** Current voting members that this nemesis manages. */
  readonly members: string[];
  /** Ids registered in advance for member replacement (their URLs are in every client). */
  readonly #spares: string[];
  readonly #paused = new Set<string>();
  /** Pids already reported as crashed. */
  readonly #crashed = new Set<number>();
  #running = true;
  #stopped: Promise<void> = Promise.resolve();
  readonly errors: string[] = [];

  constructor(
    readonly nodes: Nodes,
    readonly history: History,
    readonly prng: Prng,
    readonly options: NemesisOptions,
    spares: string[],
    readonly log: (msg: string) => void = () => {},
  ) {
    this.members = [...nodes.ids];
    this.#spares = [...spares];
    const needNet = (options.kinds ?? []).filter((k) => NET_FAULT_KINDS.includes(k));
    if (needNet.length > 0 && options.net === undefined) {
      throw new Error(`Fault kinds ${needNet.join(", ")} need the namespaces lab (root, iptables)`);
    }
  }

  start(): void {
    this.#stopped = this.#loop();
  }

  /** Ends the schedule after the fault in progress has healed. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#stopped;
  }

  async #loop(): Promise<void> {
    const kinds = this.options.kinds ??
      FAULT_KINDS.filter((k) => this.options.net !== undefined || !NET_FAULT_KINDS.includes(k));
    const total = kinds.reduce((s, k) => s + WEIGHTS[k], 0);
    while (this.#running) {
      let r = this.prng.int(total);
      const kind = kinds.find((k) => (r -= WEIGHTS[k]) < 0)!;
      const holdMs = this.prng.range(this.options.holdMs[0], this.options.holdMs[1]);
      try {
        await this.#inject(kind, holdMs);
      } catch (e) {
        this.errors.push(`${kind}: ${(e as Error)?.message ?? e}`);
        this.log(`nemesis ${kind} failed: ${(e as Error)?.message ?? e}`);
      }
      this.scanCrashes();
      await this.healLinks();
      await this.#restartDead();
      await sleep(this.prng.range(this.options.gapMs[0], this.options.gapMs[1]));
    }
  }

  #record(kind: FaultKind, phase: "start" | "end", detail: string): void {
    this.history.add({ type: "nemesis", t: this.history.now(), kind, phase, detail });
    if (phase === "start") this.log(`${kind} ${detail}`);
  }

  /**
   * Records nodes whose process died on its own: an uncaught error (a broken Raft invariant is
   * an assertion that throws) or a fatal exit. Called before any kill, so it sees the last words.
   */
  scanCrashes(): void {
    for (const id of this.nodes.allIds()) {
      const pid = this.nodes.pid(id);
      if (pid === undefined || this.#crashed.has(pid)) continue;
      const logs = this.nodes.logs(id);
      const m = /error: Uncaught.*|"event":"node_fatal_exit".*/.exec(logs);
      if (m === null) continue;
      if (/cannot start/.test(logs) && this.nodes.exitCode(id) === 1) continue;
      this.#crashed.add(pid);
      const detail = m[0].slice(0, 300);
      this.history.add({ type: "crash", t: this.history.now(), node: id, detail });
      this.log(`CRASH ${id}: ${detail}`);
    }
  }

  /** Runs one fault: inject, hold `holdMs`, heal. */
  async #inject(kind: FaultKind, holdMs: number): Promise<void> {
    if (this.members.length === 0) throw new Error("no member left to fault");
    switch (kind) {
      case "kill-leader":
      case "kill-random":
      case "kill-minority":
      case "pause-leader":
      case "pause-random":
      case "restart":
        return await this.#process(kind, holdMs);
      case "partition-halves":
      case "isolate-leader":
      case "bridge":
      case "one-way":
      case "flaky-links":
      case "net-partition-halves":
      case "net-isolate-leader":
      case "net-bridge":
      case "net-one-way":
      case "net-flaky-links":
        await this.#links(kind);
        return await sleep(holdMs);
      case "power-loss":
      case "power-loss-all":
        return await this.#powerLoss(kind, holdMs);
      case "corrupt":
        // A damaged node is replaced by a fresh id; with none left, skip (never reuse an id).
        if (this.#spares.length > 0) await this.#corrupt();
        return;
      case "member-replace": {
        if (this.#spares.length === 0) return;
        const victim = this.prng.pick(this.members);
        this.#record(kind, "start", `${victim} -> ${this.#spares[0]}`);
        return await this.replace(victim);
      }
    }
  }

  /** Process faults: SIGKILL (leader, random, a minority), SIGSTOP/SIGCONT, SIGTERM restart. */
  async #process(kind: FaultKind, holdMs: number): Promise<void> {
    const minority = Math.floor((this.members.length - 1) / 2);
    const leader = kind.endsWith("-leader") ? await this.leader() : undefined;
    if (kind === "pause-leader" || kind === "pause-random") {
      const live = this.members.filter((id) => this.nodes.isLive(id));
      const victim = leader ?? this.prng.pick(live.length > 0 ? live : this.members);
      this.#record(kind, "start", `${victim} ${holdMs} ms`);
      this.#paused.add(victim);
      await this.nodes.signal(victim, "SIGSTOP");
      await sleep(Math.max(holdMs, 1_500));
      await this.nodes.signal(victim, "SIGCONT");
      this.#paused.delete(victim);
      return;
    }
    if (kind === "restart") {
      const victim = this.prng.pick(this.members);
      this.#record(kind, "start", `${victim} (SIGTERM)`);
      this.scanCrashes();
      await this.nodes.signal(victim, "SIGTERM");
      this.nodes.spawn(victim);
      return;
    }
    const victims = kind === "kill-minority"
      ? this.pickN(this.members, minority)
      : [leader ?? this.prng.pick(this.members)];
    this.#record(kind, "start", victims.join(","));
    this.scanCrashes();
    for (const id of victims) await this.nodes.kill(id);
    await sleep(holdMs);
    for (const id of victims) this.nodes.spawn(id);
  }

  /**
   * Link faults, through the transport's fault seam or (kinds `net-*`) through iptables DROP
   * rules in the nodes' network namespaces. Both draw the same shapes; they stay until
   * `healLinks`.
   */
  async #links(kind: FaultKind): Promise<void> {
    const viaNet = kind.startsWith("net-");
    const plan = await this.#linkPlan(kind.replace(/^net-/, ""));
    const delayed = !viaNet && plan.lossy.length > 0 ? ", delay 20+0..80 ms" : "";
    this.#record(kind, "start", plan.detail + delayed);
    if (viaNet) {
      const net = this.options.net;
      if (net === undefined) throw new Error(`${kind} needs the namespaces lab (run as root)`);
      for (const [from, to] of plan.cuts) await net.cut(from, to);
      for (const [from, to] of plan.lossy) await net.lossy(from, to, 0.3);
      return;
    }
    for (const [from, to] of plan.cuts) {
      await this.setFault(from, { peer: to, direction: "out", cut: true });
    }
    for (const [from, to] of plan.lossy) {
      const spec = { dropProbability: 0.3, delayMs: 20, delayJitterMs: 80 };
      await this.setFault(from, { peer: to, direction: "out", ...spec });
    }
  }

  /** The shape of a link fault: directed cuts and lossy links `[from, to]` among the members. */
  async #linkPlan(shape: string): Promise<LinkPlan> {
    const minority = Math.floor((this.members.length - 1) / 2);
    const others = (x: string) => this.members.filter((m) => m !== x);
    const between = (a: readonly string[], b: readonly string[]) =>
      a.flatMap((x) => b.flatMap((y) => [[x, y], [y, x]] as [string, string][]));
    if (shape === "partition-halves") {
      const side = this.pickN(this.members, minority === 0 ? 1 : this.prng.range(1, minority));
      const rest = this.members.filter((m) => !side.includes(m));
      return { detail: `${side.join(",")} | rest`, cuts: between(side, rest), lossy: [] };
    }
    if (shape === "isolate-leader") {
      const leader = (await this.leader()) ?? this.prng.pick(this.members);
      return { detail: leader, cuts: between([leader], others(leader)), lossy: [] };
    }
    if (shape === "bridge") {
      // Two sides that only the bridge node hears both of (docs/reliability.md item 5).
      const [bridge, ...rest] = this.pickN(this.members, this.members.length);
      const a = rest.slice(0, Math.ceil(rest.length / 2));
      const b = rest.slice(Math.ceil(rest.length / 2));
      return {
        detail: `${a.join(",")} | ${bridge} | ${b.join(",")}`,
        cuts: between(a, b),
        lossy: [],
      };
    }
    if (shape === "one-way") {
      // The victim (often the leader) still hears everyone but nobody hears it.
      const victim = (this.prng.chance(0.5) ? await this.leader() : undefined) ??
        this.prng.pick(this.members);
      const cuts = others(victim).map((peer) => [victim, peer] as [string, string]);
      return { detail: `${victim} -> others cut`, cuts, lossy: [] };
    }
    const victim = this.prng.pick(this.members);
    return {
      detail: `${victim}: drop 0.3`,
      cuts: [],
      lossy: between([victim], others(victim)),
    };
  }

  /** SIGKILL, a torn record at the end of each victim's log (see disk.ts), restart. */
  async #powerLoss(kind: FaultKind, holdMs: number): Promise<void> {
    const victims = kind === "power-loss-all" ? [...this.members] : [this.prng.pick(this.members)];
    this.#record(kind, "start", victims.join(","));
    this.scanCrashes();
    for (const id of victims) await this.nodes.kill(id);
    for (const id of victims) {
      const cut = await cutToDurable(this.nodes.nodeDataDir(id));
      const torn = await tearTail(`${this.nodes.nodeDataDir(id)}/log`, this.prng);
      this.log(`${kind}: ${id}: ${cut}; ${torn}`);
    }
    await sleep(Math.min(holdMs, 1_000));
    for (const id of victims) this.nodes.spawn(id);
  }

  /** Flip a byte in the middle of one node's log; it must refuse to start, then is replaced. */
  async #corrupt(): Promise<void> {
    const victim = this.prng.pick(this.members);
    this.scanCrashes();
    await this.nodes.kill(victim);
    const where = await corruptMiddle(`${this.nodes.nodeDataDir(victim)}/log`, this.prng);
    this.#record("corrupt", "start", `${victim} ${where}`);
    this.nodes.spawn(victim);
    const refused = await this.waitExit(victim, 20_000);
    if (where.startsWith("skipped")) return;
    if (!refused) {
      this.errors.push(`corrupt: ${victim} started on a log damaged at ${where}`);
      this.log(`corrupt: ${victim} started on a damaged log (${where})`);
      return;
    }
    await this.replace(victim);
  }

  /**
   * Removes `victim` from the cluster and adds a fresh spare id in its place; the removed node
   * keeps running until its replacement is in (as an operator's would, issue 11), and is only
   * then stopped and wiped.
   */
  async replace(victim: string): Promise<void> {
    const spare = this.#spares.shift()!;
    await this.removeMember(victim);
    const at = this.members.indexOf(victim);
    if (at >= 0) this.members.splice(at, 1);
    this.nodes.spawn(spare);
    // Counted as a member even if the add times out: its outcome is unknown, and a node that
    // may be a voter must be managed (restarted, healed) like one.
    this.members.push(spare);
    try {
      await this.admin("POST", "/v1/cluster/members", { id: spare, url: this.nodes.url(spare) });
    } finally {
      this.scanCrashes();
      await this.nodes.kill(victim);
      await this.nodes.wipe(victim);
    }
    this.#record("member-replace", "end", `${spare} added`);
  }

  async removeMember(id: string): Promise<void> {
    await this.admin("DELETE", `/v1/cluster/members/${id}`, undefined);
  }

  /** An admin call through any live member, retried for up to 30 s. */
  async admin(method: string, path: string, body: unknown): Promise<void> {
    const deadline = Date.now() + 30_000;
    let last = "";
    while (Date.now() < deadline) {
      const via = this.members.filter((m) => this.nodes.isLive(m) && !this.#paused.has(m));
      for (const id of via) {
        try {
          const res = await fetch(`${this.nodes.url(id)}${path}`, {
            method,
            headers: { "content-type": "application/json" },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(15_000),
          });
          const text = await res.text();
          if (res.ok || (method === "DELETE" && res.status === 404)) return;
          last = `${id}: ${res.status} ${text.slice(0, 200)}`;
        } catch (e) {
          last = `${id}: ${(e as Error)?.message ?? e}`;
        }
      }
      await sleep(300);
    }
    throw new Error(`${method} ${path} did not succeed within 30 s (last: ${last})`);
  }

  /** True once `id`'s process has exited (it refused to start). */
  async waitExit(id: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (
        this.nodes.logs(id).includes("cannot start") || /start_failed/.test(this.nodes.logs(id))
      ) {
        await this.nodes.kill(id);
        return true;
      }
      try {
        await this.nodes.cluster(id, 500);
        return false;
      } catch { /* not up yet, or gone */ }
      await sleep(100);
    }
    return false;
  }

  /** Sets one link fault on `on`; a node that is still starting is retried for up to 5 s. */
  async setFault(on: string, spec: Record<string, unknown>): Promise<void> {
    const deadline = Date.now() + 5_000;
    let last = "";
    while (this.nodes.isLive(on) && Date.now() < deadline) {
      try {
        const res = await fetch(`${this.nodes.url(on)}/v1/admin/faults`, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(spec),
          signal: AbortSignal.timeout(2_000),
        });
        await res.body?.cancel();
        if (res.ok) return;
        last = `${res.status}`;
      } catch (e) {
        last = String((e as Error)?.message ?? e);
      }
      await sleep(100);
    }
    if (last !== "") this.errors.push(`fault on ${on} not set: ${last}`);
  }

  /** Clears every link fault: the seam's on every live member, and every DROP rule. */
  async healLinks(): Promise<void> {
    if (this.options.net !== undefined) {
      try {
        await this.options.net.heal();
      } catch (e) {
        this.errors.push(`heal of the network failed: ${(e as Error)?.message ?? e}`);
      }
    }
    await Promise.all(
      this.members.filter((m) => this.nodes.isLive(m)).map(async (id) => {
        try {
          const res = await fetch(`${this.nodes.url(id)}/v1/admin/faults`, {
            method: "DELETE",
            signal: AbortSignal.timeout(2_000),
          });
          await res.body?.cancel();
        } catch { /* a node that is down has no faults */ }
      }),
    );
  }

  async #restartDead(): Promise<void> {
    for (const id of this.#paused) await this.nodes.signal(id, "SIGCONT");
    this.#paused.clear();
    this.scanCrashes();
    for (const id of this.members) {
      if (this.nodes.isLive(id) && this.nodes.exitCode(id) !== undefined) await this.nodes.kill(id);
      if (!this.nodes.isLive(id)) this.nodes.spawn(id);
    }
  }

  /** The final heal: no faults, every member running. */
  async heal(): Promise<void> {
    await this.#restartDead();
    await this.healLinks();
  }

  /** The leader most live members name, if any. */
  async leader(): Promise<string | undefined> {
    const views = await Promise.all(
      this.members.filter((m) => this.nodes.isLive(m) && !this.#paused.has(m)).map((id) =>
        this.nodes.cluster(id, 500).catch(() => undefined)
      ),
    );
    const votes = new Map<string, number>();
    for (const v of views) if (v?.leaderId) votes.set(v.leaderId, (votes.get(v.leaderId) ?? 0) + 1);
    const best = [...votes].sort((a, b) => b[1] - a[1])[0]?.[0];
    return best !== undefined && this.members.includes(best) ? best : undefined;
  }

  pickN(from: readonly string[], n: number): string[] {
    const pool = [...from];
    const out: string[] = [];
    while (out.length < n && pool.length > 0) {
      out.push(pool.splice(this.prng.int(pool.length), 1)[0]);
    }
    return out;
  }
}
