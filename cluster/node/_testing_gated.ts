/**
 * Test helpers: memory storage whose log appends first run a test's hook (a gate that holds a
 * Ready's persist like a slow fsync, or a note of when the write starts), and a leader elected by
 * hand, so a test can see what the driver does around its own writes.
 *
 * @module
 */

import type { Entry, Message } from "../raft/mod.ts";
import { NodeDriver } from "./driver.ts";
import type { NodeDriverOptions } from "./driver_options.ts";
import type { StoragePorts } from "./ports.ts";
import { handDriven, ListMachine } from "./_testing_cluster.ts";
import { MemoryHardStateStore, MemoryLogStore, MemorySnapshotStore } from "../storage/mod.ts";

/** Memory storage whose log runs `beforeAppend` (and awaits it) at the start of each append. */
export function hookedLogStorage(
  beforeAppend: (es: readonly Entry[]) => void | Promise<void>,
): StoragePorts {
  const log = new MemoryLogStore();
  return {
    log: {
      load: () => log.load(),
      append: async (es) => {
        await beforeAppend(es);
        await log.append(es);
      },
      compact: (i) => log.compact(i),
      reset: (i) => log.reset(i),
      firstIndex: () => log.firstIndex(),
      lastIndex: () => log.lastIndex(),
      term: (i) => log.term(i),
      close: () => log.close(),
    },
    hardState: new MemoryHardStateStore(),
    snapshots: new MemorySnapshotStore(),
  };
}

/** The storage, and the gate its log appends wait on (`close` holds them, `open` lets go). */
export function gatedLogStorage() {
  let waiting: Promise<void> | undefined;
  let release = () => {};
  const storage = hookedLogStorage(async () => {
    if (waiting) await waiting;
  });
  const gate = {
    close: () => void (waiting = new Promise((resolve) => release = resolve)),
    open: () => {
      release();
      waiting = undefined;
    },
  };
  return { storage, gate };
}

/**
 * Makes the driver `l` leader by hand: ticks until it asks for a prevote (`sent` holds what it
 * sent), then answers its prevote and vote from `p`; `settle` lets its steps run.
 */
export async function electByHand(
  d: NodeDriver,
  sent: readonly Message[],
  tick: () => void,
  settle: () => Promise<void>,
): Promise<void> {
  const base = { clusterId: "test", to: "l", logTerm: 0, index: 0, commit: 0 } as const;
  for (let i = 0; i < 30 && !sent.some((m) => m.type === "prevote"); i++) {
    tick();
    await settle();
  }
  const prevote = sent.find((m) => m.type === "prevote")!;
  d.receive([{ ...base, from: "p", type: "prevote_resp", term: prevote.term }]);
  await settle();
  const vote = sent.find((m) => m.type === "vote")!;
  d.receive([{ ...base, from: "p", type: "vote_resp", term: vote.term }]);
  await settle();
}

const flush = () => new Promise((r) => setTimeout(r, 0));

/** Lets the driver's queued steps run (a few macrotask turns). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await flush();
}

/** What `gatedLeader` may change. */
export interface GatedLeaderOptions {
  /** Default 1000. */
  readonly snapshotEveryEntries?: number;
  /** Runs before each log append, after the gate (a failing disk). */
  readonly onAppend?: (es: readonly Entry[]) => void;
  /** Default: rethrow. */
  readonly onFatal?: (e: unknown) => void;
}

/**
 * A leader `l` of voters l, p, q (memory storage whose log appends wait while `hold()` is in
 * force), its no-op acknowledged by both and applied; `ack(from, index)` steps an append answer.
 */
export async function gatedLeader(opts: GatedLeaderOptions = {}) {
  let waiting: Promise<void> | undefined;
  let releaseGate = () => {};
  const storage = hookedLogStorage(async (es) => {
    if (waiting) await waiting;
    opts.onAppend?.(es);
  });
  const sent: Message[] = [];
  const machine = new ListMachine();
  const hand = handDriven();
  const options: NodeDriverOptions = {
    raft: { id: "l", clusterId: "test", electionTicks: 10, heartbeatTicks: 1, random: () => 0 },
    bootstrapConf: { voters: ["l", "p", "q"], learners: [] },
    bootstrapUrls: new Map([["l", "http://l"], ["p", "http://p"], ["q", "http://q"]]),
    storage,
    sink: { send: (msgs) => void sent.push(...msgs) },
    stateMachine: machine,
    ...hand.options,
    ...(opts.snapshotEveryEntries === undefined
      ? {}
      : { snapshotEveryEntries: opts.snapshotEveryEntries }),
    ...(opts.onFatal === undefined ? {} : { onFatal: opts.onFatal }),
  };
  const d = await NodeDriver.open(options);
  const base = { clusterId: "test", to: "l", logTerm: 0, index: 0, commit: 0 } as const;
  await electByHand(d, sent, hand.tick, settle);
  if (d.status().role !== "leader") throw new Error("l was not elected");
  const term = d.status().term;
  /** `from` acknowledges the leader's log up to `index`. */
  const ack = (from: string, index: number) =>
    d.receive([{ ...base, from, type: "append_resp", term, index }]);
  // The no-op of the new term: persisted, acknowledged by both, applied.
  const noop = d.status().lastIndex;
  ack("p", noop);
  ack("q", noop);
  await settle();
  if (d.appliedIndex !== noop) throw new Error("the no-op was not applied");
  return {
    d,
    sent,
    machine,
    storage,
    options,
    ack,
    /** Log appends from now on wait (those waiting already keep waiting) until `release`. */
    hold: () => void (waiting = new Promise((resolve) => releaseGate = resolve)),
    /** Lets every append waiting go; later ones go at once until the next `hold`. */
    release: () => {
      releaseGate();
      waiting = undefined;
    },
  };
}
