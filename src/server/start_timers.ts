/**
 * What a running node checks on timers besides Raft's ticks: the leader's timed events of the
 * broker (lease ends, delays, TTLs) and the full garbage collection once the node turns quiet.
 *
 * @module
 */

import type { NodeDriver } from "../../cluster/node/mod.ts";
import type { EntryClock } from "../broker/mod.ts";
import type { Logger } from "../log.ts";
import type { BrokerMachine } from "./broker_machine.ts";
import { canCollect, fullCollection, IdleCollector } from "./memory.ts";
import type { RaftNode } from "./raft_node.ts";

/** How often the leader looks for due timed events (lease ends, delays, TTLs). */
const TIMER_CHECK_MS = 250;

/**
 * A full collection once the node turns quiet after work (src/server/memory.ts): checked every
 * second, after two quiet seconds and at least 1,000 entries applied since the last one.
 */
export function startIdleCollector(driver: NodeDriver, log: Logger): () => void {
  if (!canCollect) return () => {};
  const idle = new IdleCollector({
    appliedIndex: () => driver.appliedIndex,
    busy: () => driver.snapshotting,
    collect: () => {
      const t0 = performance.now();
      fullCollection();
      const m = Deno.memoryUsage();
      log.info("memory_collected", {
        ms: Math.round(performance.now() - t0),
        heapMB: Math.round(m.heapUsed / 2 ** 20),
        externalMB: Math.round(m.external / 2 ** 20),
      });
    },
    quietChecks: 2,
    minEntries: 1000,
  });
  const timer = setInterval(() => idle.check(), 1000);
  return () => clearInterval(timer);
}

/**
 * Leases end, delays pass and TTLs expire by entry time. When such an event is due and no
 * command has carried time forward, the leader proposes a `tick` so every replica moves it
 * (stats stay true; dead-lettering happens without waiting for the next receive).
 */
export function startLeaderTimers(
  driver: NodeDriver,
  raft: RaftNode,
  machine: BrokerMachine,
  clock: EntryClock,
): () => void {
  let inFlight = false;
  const timer = setInterval(() => {
    if (inFlight || driver.status().role !== "leader") return;
    const due = machine.nextEventAt();
    if (due === undefined || due > clock.now()) return;
    inFlight = true;
    raft.propose({ cmd: { op: "tick" } }, { timeoutMs: 5_000 })
      .finally(() => inFlight = false);
  }, TIMER_CHECK_MS);
  return () => clearInterval(timer);
}
