/**
 * What a running node checks on timers besides Raft's ticks: the leader's timed events of the
 * broker (lease ends, delays, TTLs) and the full garbage collection once the node turns quiet,
 * both on the beats of the node's ticker (`node_ticker.ts`, no timer of their own); and the
 * driver's commit-notice timer (`ReusedTimer`).
 *
 * @module
 */

import type { NodeDriver } from "../../cluster/node/mod.ts";
import type { EntryClock } from "../broker/mod.ts";
import type { Logger } from "../log.ts";
import type { BrokerMachine } from "./broker_machine.ts";
import { canCollect, fullCollection, IdleCollector } from "./memory.ts";
import type { NodeTicker } from "./node_ticker.ts";
import type { RaftNode } from "./raft_node.ts";

/** How often the leader looks for due timed events (lease ends, delays, TTLs). */
const TIMER_CHECK_MS = 250;

/**
 * A full collection once the node turns quiet after work (src/server/memory.ts): checked every
 * second, after two quiet seconds and at least 1,000 entries applied since the last one.
 */
export function startIdleCollector(
  driver: NodeDriver,
  log: Logger,
  ticker: NodeTicker,
): () => void {
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
  return ticker.every(1000, () => idle.check());
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
  ticker: NodeTicker,
): () => void {
  let inFlight = false;
  return ticker.every(TIMER_CHECK_MS, () => {
    if (inFlight || driver.status().role !== "leader") return;
    const due = machine.nextEventAt();
    if (due === undefined || due > clock.now()) return;
    inFlight = true;
    raft.propose({ cmd: { op: "tick" } }, { timeoutMs: 5_000 })
      .finally(() => inFlight = false);
  });
}

/**
 * The node driver's one-shot commit-notice timer (`startTimer`) on one reused timer. A leader
 * starts it at the end of nearly every round and cancels it when the next round's append carries
 * the commit: a `setTimeout` and a `clearTimeout` per round cost ~9 µs of the leader's CPU (Deno's
 * timers), in the turn that answers the round's publishers; a `refresh` costs under 1 µs. So a
 * cancel only drops the callback, the timer fires once more for nothing unless a start refreshes
 * it first, and `close` clears it. A start while another is pending gets a timer of its own.
 */
export class ReusedTimer {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #delayMs = 0;
  #onTime: (() => void) | undefined;
  /** Counts starts: a cancel drops only the callback of its own start. */
  #starts = 0;

  start(delayMs: number, onTime: () => void): () => void {
    if (this.#onTime !== undefined) {
      const own = setTimeout(onTime, delayMs);
      return () => clearTimeout(own);
    }
    this.#onTime = onTime;
    const start = ++this.#starts;
    const timer = this.#timer as { refresh?: () => unknown } | undefined;
    if (timer !== undefined && this.#delayMs === delayMs && typeof timer.refresh === "function") {
      timer.refresh(); // also sets a timer that fired already again
    } else {
      clearTimeout(this.#timer);
      this.#delayMs = delayMs;
      this.#timer = setTimeout(() => this.#fire(), delayMs);
    }
    return () => {
      if (this.#starts === start) this.#onTime = undefined;
    };
  }

  /** Clears the timer; a later start sets a new one. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#onTime = undefined;
  }

  #fire(): void {
    const onTime = this.#onTime;
    this.#onTime = undefined;
    onTime?.();
  }
}
