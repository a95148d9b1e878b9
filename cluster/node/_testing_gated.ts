/**
 * Test helper: memory storage whose log appends wait while a gate is closed, so a test can hold
 * a Ready's persist (a slow fsync) and see what the driver does meanwhile.
 *
 * @module
 */

import type { StoragePorts } from "./ports.ts";
import { MemoryHardStateStore, MemoryLogStore, MemorySnapshotStore } from "../storage/mod.ts";

/** The storage, and the gate its log appends wait on (`close` holds them, `open` lets go). */
export function gatedLogStorage() {
  let waiting: Promise<void> | undefined;
  let release = () => {};
  const log = new MemoryLogStore();
  const storage: StoragePorts = {
    log: {
      load: () => log.load(),
      append: async (es) => {
        if (waiting) await waiting;
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
  const gate = {
    close: () => void (waiting = new Promise((resolve) => release = resolve)),
    open: () => {
      release();
      waiting = undefined;
    },
  };
  return { storage, gate };
}
