/**
 * Test helpers: memory storage whose log appends first run a test's hook (a gate that holds a
 * Ready's persist like a slow fsync, or a note of when the write starts), and a leader elected by
 * hand, so a test can see what the driver does around its own writes.
 *
 * @module
 */

import type { Entry, Message } from "../raft/mod.ts";
import type { NodeDriver } from "./driver.ts";
import type { StoragePorts } from "./ports.ts";
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
