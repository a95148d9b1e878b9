/**
 * Test helper: N node drivers in one process on file storage (each node its own directory, fsync
 * on; or `--storage memory`'s stores, which a restart empties), a hand-driven ticker, and a
 * network that can partition the nodes into groups and hold back chosen messages. A crash closes
 * the driver and its storage and reopens both from disk, so the next incarnation starts from
 * exactly what the stores made durable.
 *
 * @module
 */

import { NodeDriver } from "./driver.ts";
import type { NodeDriverOptions } from "./driver_options.ts";
import { StaleIncarnationError } from "./identity.ts";
import { LostLogError } from "../raft/mod.ts";
import type { SnapshotView, StateMachine } from "./ports.ts";
import { openStorage, type Storage, type StorageMode } from "../storage/mod.ts";
import type { Message, NodeId } from "../raft/mod.ts";

/**
 * What every hand-driven driver test shares: a ticker the test drives (`tick()` runs the driver's
 * tick), ticks of 10 ms, a snapshot every 1000 entries, no log, and a fatal error thrown.
 */
export function handDriven(): {
  readonly options: Pick<
    NodeDriverOptions,
    "startTicker" | "tickMs" | "snapshotEveryEntries" | "log" | "onFatal"
  >;
  readonly tick: () => void;
} {
  let driverTick = () => {};
  return {
    options: {
      startTicker: (_ms, fn) => {
        driverTick = fn;
        return () => {};
      },
      tickMs: 10,
      snapshotEveryEntries: 1000,
      log: () => {},
      onFatal: (e) => {
        throw e;
      },
    },
    tick: () => driverTick(),
  };
}

/** Appends every applied command to a list; results are the list's length. */
export class ListMachine implements StateMachine {
  items: string[] = [];
  apply(_index: number, data: Uint8Array): unknown {
    this.items.push(new TextDecoder().decode(data));
    return this.items.length;
  }
  snapshot(): SnapshotView {
    const copy = [...this.items];
    return { serialize: () => new TextEncoder().encode(JSON.stringify(copy)) };
  }
  restore(data: Uint8Array): void {
    this.items = JSON.parse(new TextDecoder().decode(data));
  }
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const flush = () => new Promise((r) => setTimeout(r, 0));

/** The production value of the snapshot threshold (src/server/start.ts). */
export const PRODUCTION_SNAPSHOT_EVERY = 20_000;

export class FileCluster {
  readonly drivers = new Map<NodeId, NodeDriver>();
  readonly machines = new Map<NodeId, ListMachine>();
  readonly #storages = new Map<NodeId, Storage>();
  readonly #tickers = new Map<NodeId, () => void>();
  readonly #joined = new Set<NodeId>();
  /** Node → partition group; messages between different groups are dropped. */
  #group = new Map<NodeId, number>();
  /** Messages for which `hold` says true wait here until `release`. */
  held: Message[] = [];
  hold: (m: Message) => boolean = () => false;
  /** Nodes that stopped because the cluster knows their id with other data (identity.ts). */
  readonly stale = new Map<NodeId, StaleIncarnationError>();
  /** Nodes that stopped because a leader counts them holding entries their log lacks. */
  readonly lost = new Map<NodeId, LostLogError>();

  private constructor(
    readonly dir: string,
    readonly ids: NodeId[],
    readonly snapshotEveryEntries: number,
    readonly identity: boolean,
    readonly storage: StorageMode,
    readonly logCacheBytes?: number,
  ) {}

  /**
   * Opens the bootstrap members `ids` in a fresh temporary directory. `identity`: each driver
   * gets its data directory's incarnation (node identity checks on, as in a real node).
   * `storage`: "memory" runs every node on in-memory stores (a restart starts it empty).
   * `logCacheBytes`: the Raft log's memory budget (`RaftConfig.logCacheBytes`).
   */
  static async start(
    ids: NodeId[],
    snapshotEveryEntries: number,
    options: { identity?: boolean; storage?: StorageMode; logCacheBytes?: number } = {},
  ): Promise<FileCluster> {
    const dir = await Deno.makeTempDir({ prefix: "quorumq-fc-" });
    const identity = options.identity ?? false;
    const storage = options.storage ?? "fsync";
    const cache = options.logCacheBytes;
    const c = new FileCluster(dir, ids, snapshotEveryEntries, identity, storage, cache);
    for (const id of ids) await c.open(id);
    return c;
  }

  /** Opens (or reopens from its directory) node `id`; `joining` nodes start with no membership. */
  async open(id: NodeId, joining = false): Promise<NodeDriver> {
    if (joining) this.#joined.add(id);
    const storage = await openStorage(`${this.dir}/${id}`, this.storage, { log: () => {} });
    this.#storages.set(id, storage);
    const sm = new ListMachine();
    this.machines.set(id, sm);
    let seed = [...id].reduce((s, ch) => s * 31 + ch.charCodeAt(0), 7) % 2147483646 + 1;
    const d = await NodeDriver.open({
      raft: {
        id,
        clusterId: "test",
        electionTicks: 10,
        heartbeatTicks: 1,
        random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647),
        ...(this.logCacheBytes === undefined ? {} : { logCacheBytes: this.logCacheBytes }),
      },
      bootstrapConf: { voters: this.#joined.has(id) ? [] : this.ids, learners: [] },
      bootstrapUrls: new Map(this.ids.map((i) => [i, `http://${i}`])),
      storage,
      ...(this.identity ? { dataIncarnation: storage.incarnation } : {}),
      sink: { send: (msgs) => this.#deliver(msgs) },
      stateMachine: sm,
      startTicker: (_ms, fn) => {
        this.#tickers.set(id, fn);
        return () => this.#tickers.delete(id);
      },
      tickMs: 10,
      snapshotEveryEntries: this.snapshotEveryEntries,
      log: () => {},
      onFatal: (e) => {
        if (e instanceof LostLogError) return void this.lost.set(id, e);
        if (!(e instanceof StaleIncarnationError)) throw e;
        this.stale.set(id, e);
      },
    });
    this.drivers.set(id, d);
    return d;
  }

  /** Stops node `id` (driver and storage) and opens it again from what its disk holds. */
  async restart(id: NodeId): Promise<NodeDriver> {
    await this.drivers.get(id)!.close();
    this.drivers.delete(id);
    await this.#storages.get(id)!.close();
    return await this.open(id);
  }

  /** Stops node `id`, empties its data directory (a lost disk) and starts it again. */
  async wipe(id: NodeId): Promise<NodeDriver> {
    await this.drivers.get(id)!.close();
    this.drivers.delete(id);
    await this.#storages.get(id)!.close();
    await Deno.remove(`${this.dir}/${id}`, { recursive: true });
    return await this.open(id);
  }

  /** Empties the data directory of stopped node `id` and opens it as a joining node. */
  async wipeAndJoin(id: NodeId): Promise<NodeDriver> {
    await this.#storages.get(id)?.close();
    await Deno.remove(`${this.dir}/${id}`, { recursive: true });
    return await this.open(id, true);
  }

  /** Cuts the network into these groups (nodes not named form one more group). */
  partition(...groups: NodeId[][]): void {
    this.#group = new Map(groups.flatMap((g, i) => g.map((id) => [id, i + 1] as const)));
  }

  heal(): void {
    this.#group.clear();
  }

  /** Delivers the held messages (in their order), or those `which` picks. */
  release(which: (m: Message) => boolean = () => true): void {
    const out = this.held.filter(which);
    this.held = this.held.filter((m) => !which(m));
    for (const m of out) queueMicrotask(() => this.drivers.get(m.to)?.receive([m]));
  }

  #deliver(msgs: readonly Message[]): void {
    for (const m of msgs) {
      if ((this.#group.get(m.from) ?? 0) !== (this.#group.get(m.to) ?? 0)) continue;
      if (this.hold(m)) {
        this.held.push(m);
        continue;
      }
      queueMicrotask(() => this.drivers.get(m.to)?.receive([m]));
    }
  }

  /** `n` ticks of every running node; `each` sees the cluster after every tick. */
  async ticks(n: number, each?: () => void): Promise<void> {
    for (let i = 0; i < n; i++) {
      await this.#settled();
      for (const t of [...this.#tickers.values()]) t();
      await flush();
      await flush();
      each?.();
    }
  }

  /**
   * Waits (at most 2 s) until no running node's ready loop is mid-Ready. Ticks are logical time:
   * on a loaded machine an fsync can outlast many hand-driven ticks, and the leader's heartbeats
   * of those ticks wait behind it, so followers would time out a leader that is only slow.
   */
  async #settled(): Promise<void> {
    const busy = () => [...this.drivers.values()].some((d) => d.readyLoopRunning);
    for (let i = 0; i < 2_000 && busy(); i++) await new Promise((r) => setTimeout(r, 1));
  }

  /** The leader among `among` (default all), within 200 ticks. */
  async leader(among: NodeId[] = [...this.drivers.keys()]): Promise<NodeDriver> {
    for (let i = 0; i < 200; i++) {
      for (const id of among) {
        const d = this.drivers.get(id);
        if (d?.status().role === "leader") return d;
      }
      await this.ticks(1);
    }
    throw new Error(`No leader among ${among} within 200 ticks`);
  }

  /** Waits (at most 300 ticks) until every node in `ids` applied through `index`. */
  async applied(ids: NodeId[], index: number): Promise<void> {
    for (let i = 0; i < 300; i++) {
      if (ids.every((id) => (this.drivers.get(id)?.appliedIndex ?? 0) >= index)) return;
      await this.ticks(1);
    }
    throw new Error(`${ids} did not apply through ${index} within 300 ticks`);
  }

  async close(): Promise<void> {
    for (const d of this.drivers.values()) await d.close();
    for (const s of this.#storages.values()) await s.close();
    await Deno.remove(this.dir, { recursive: true });
  }
}
