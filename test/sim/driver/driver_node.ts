/**
 * One node of the driver simulation: the real `NodeDriver` (cluster/node/driver.ts), unchanged,
 * opened on fake ports: the simulated disk (`driver_disk.ts`), a ticker the simulator calls, a
 * sink into the simulated network, and the simulator's application behind the `StateMachine`
 * port. A crash abandons the driver object (it is never resumed: its disk ports are dead, its
 * ticker and sink are cut off) and the next start opens a new driver on the durable state.
 *
 * @module
 */

import {
  NodeDriver,
  type NodeDriverOptions,
  type Pace,
  type SnapshotView,
  type StateMachine,
} from "../../../cluster/node/mod.ts";
import type {
  ConfState,
  Message,
  NodeId,
  RaftConfig,
  RaftStatus,
  Snapshot,
} from "../../../cluster/raft/mod.ts";
import type { SimApp, SimAppFactory } from "../app.ts";
import { appendResolvesEarly, SimDisk } from "./driver_disk.ts";
import type { NemesisNode } from "../core/nemesis.ts";
import type { Prng } from "../prng.ts";

/** Milliseconds per tick of the fake ticker (timeouts given to the driver are in ms). */
export const TICK_MS = 10;

/** How the driver simulation observes a node. */
export interface DriverNodeHooks {
  send(node: DriverSimNode, messages: readonly Message[]): void;
  /** The application applied a normal entry: its result and the state digest after it. */
  onApply(node: DriverSimNode, index: number, data: Uint8Array, result: unknown): void;
  /** The driver logged an event (membership changes, snapshots, leader changes). */
  onEvent(node: DriverSimNode, event: string, details: Record<string, unknown>): void;
  /** The driver saves a snapshot (its own or a leader's). */
  onSnapshotSave(node: DriverSimNode, snap: Snapshot): void;
  /** The driver stopped itself: nothing in the simulation should make it. */
  onFatal(node: DriverSimNode, error: unknown): void;
  trace(line: string): void;
}

/** Broken ports, to prove the simulator catches what they cause. */
export interface DriverPortFaults {
  /** The log's `append` resolves before its write is synced. */
  readonly appendResolvesEarly?: boolean;
}

/** What a node is built from. */
export interface DriverNodeOptions {
  readonly id: NodeId;
  /** The initial voters for an original member; empty for a joiner (it learns from the log). */
  readonly bootstrap: ConfState;
  readonly bootstrapUrls: ReadonlyMap<NodeId, string>;
  readonly config: Omit<RaftConfig, "random" | "id">;
  readonly prng: Prng;
  readonly appFactory: SimAppFactory;
  readonly hooks: DriverNodeHooks;
  readonly snapshotEveryEntries: number;
  readonly snapshotLogFactor: number;
  readonly snapshotEntriesMax: number;
  /** The production seeds' bound on log bytes between snapshots; none otherwise. */
  readonly snapshotLogBytesMax?: number;
  readonly faults?: DriverPortFaults;
}

/** The simulator's application behind the driver's `StateMachine` port. */
class AppMachine implements StateMachine {
  constructor(
    readonly app: SimApp,
    readonly onApply: (i: number, d: Uint8Array, r: unknown) => void,
  ) {}

  apply(index: number, data: Uint8Array): unknown {
    // The driver hands the application normal entries only; their term is not part of the port.
    const result = this.app.apply({ index, term: 0, kind: 0, data });
    this.onApply(index, data, result);
    return result;
  }

  /** The bytes are taken now (an immutable view); `serialize` waits for one simulated pace. */
  snapshot(): SnapshotView {
    const bytes = this.app.snapshot();
    return {
      serialize: async (pace: Pace) => {
        await pace();
        return bytes;
      },
    };
  }

  /** Restores after one simulated pace, all at once (the port's contract). */
  async restore(data: Uint8Array, pace: Pace): Promise<void> {
    await pace();
    this.app.restore(data);
  }
}

/** A node of the driver simulation, across its incarnations. */
export class DriverSimNode implements NemesisNode {
  readonly id: NodeId;
  readonly disk = new SimDisk();
  up = false;
  incarnation = 0;
  /** Set once `NodeDriver.open` resolved for the current incarnation. */
  driver: NodeDriver | undefined;
  app!: SimApp;
  /** The highest index the current incarnation's application applied. */
  appIndex = 0;
  readonly #tickers = new Set<() => void>();
  /** Paces the driver awaits (snapshot serialize and restore): the simulator releases them. */
  #paces: (() => void)[] = [];
  readonly #o: DriverNodeOptions;

  constructor(o: DriverNodeOptions) {
    this.id = o.id;
    this.#o = o;
  }

  status(): RaftStatus {
    if (this.driver === undefined) throw new Error(`Cannot read ${this.id}'s status: not open`);
    return this.driver.status();
  }

  /** Opens a new driver on the durable state; it becomes `driver` once the open resolves. */
  start(): void {
    const inc = ++this.incarnation;
    this.up = true;
    this.driver = undefined;
    this.#tickers.clear();
    this.#paces = [];
    const live = () => this.up && this.incarnation === inc;
    const hooks = this.#o.hooks;
    this.app = this.#o.appFactory(this.id);
    this.appIndex = 0;
    const machine = new AppMachine(this.app, (index, data, result) => {
      if (!live()) return;
      this.appIndex = index;
      hooks.onApply(this, index, data, result);
    });
    let storage = this.disk.ports((snap) => live() && hooks.onSnapshotSave(this, snap));
    if (this.#o.faults?.appendResolvesEarly) {
      storage = appendResolvesEarly(storage, (e) => live() && hooks.onFatal(this, e));
    }
    const rng = this.#o.prng.fork();
    const opts: NodeDriverOptions = {
      raft: { ...this.#o.config, id: this.id, random: () => rng.next() },
      bootstrapConf: this.#o.bootstrap,
      bootstrapUrls: this.#o.bootstrapUrls,
      storage,
      sink: { send: (msgs) => live() && hooks.send(this, msgs) },
      stateMachine: machine,
      startTicker: (_ms, onTick) => {
        if (!live()) return () => {};
        this.#tickers.add(onTick);
        return () => this.#tickers.delete(onTick);
      },
      // The commit notice (`deferCommitNotice`) fires with the next tick: no real timer decides
      // an order here.
      startTimer: (_ms, onTime) => {
        if (!live()) return () => {};
        const once = () => {
          this.#tickers.delete(once);
          onTime();
        };
        this.#tickers.add(once);
        return () => this.#tickers.delete(once);
      },
      tickMs: TICK_MS,
      // Unique across this node's starts, and from the seed (crypto would still be unique).
      incarnation: String(inc),
      // The disk outlives crashes (never wiped here): one data-directory incarnation per node, so
      // the leader's identify entries interleave with every membership change of a campaign.
      dataIncarnation: `disk-${this.id}`,
      // An abandoned incarnation's paces never resolve, like its disk operations.
      pace: () => new Promise<void>((resolve) => live() && this.#paces.push(resolve)),
      snapshotEveryEntries: this.#o.snapshotEveryEntries,
      snapshotLogFactor: this.#o.snapshotLogFactor,
      snapshotEntriesMax: this.#o.snapshotEntriesMax,
      ...(this.#o.snapshotLogBytesMax === undefined
        ? {}
        : { snapshotLogBytesMax: this.#o.snapshotLogBytesMax }),
      log: (_level, event, details) => {
        if (live()) hooks.onEvent(this, event, details ?? {});
      },
      onFatal: (e) => live() && hooks.onFatal(this, e),
    };
    hooks.trace(
      `${this.id} start #${inc} durable-log ${this.disk.durable.first}..${
        this.disk.durable.first + this.disk.durable.entries.length - 1
      } snap ${this.disk.durable.snap?.meta.index ?? 0} hs ${
        JSON.stringify(this.disk.durable.hard)
      }`,
    );
    NodeDriver.open(opts).then(
      (d) => {
        if (live()) this.driver = d;
      },
      (e) => live() && hooks.onFatal(this, e),
    );
  }

  /** Power loss: the driver is abandoned, unsynced operations are (partly) lost. */
  crash(prng: Prng): void {
    this.up = false;
    this.driver = undefined;
    this.#tickers.clear();
    this.#paces = [];
    const lost = this.disk.crash(prng);
    this.#o.hooks.trace(`${this.id} crash lost-ops=${lost}`);
  }

  /** Paces waiting for the simulator. */
  pendingPaces(): number {
    return this.#paces.length;
  }

  /** Lets every waiting pace go on; returns how many. */
  releasePaces(): number {
    const waiting = this.#paces;
    this.#paces = [];
    for (const resolve of waiting) resolve();
    return waiting.length;
  }

  /** One tick of the fake ticker. */
  tick(): void {
    if (this.driver === undefined) return;
    for (const t of this.#tickers) t();
  }

  /** Delivers messages from the network (dropped while the driver is not open). */
  receive(messages: readonly Message[]): void {
    this.driver?.receive(messages);
  }
}
