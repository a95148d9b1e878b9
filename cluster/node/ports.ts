/**
 * The ports of the node driver: what it needs from the application and the outside world. The
 * real adapters (files, WebSockets, timers) and the fakes of tests plug in here.
 *
 * @module
 */

import type { Message, Snapshot, SnapshotData } from "../raft/mod.ts";
import type { HardStateStore, LogStore, SnapshotStore } from "../storage/mod.ts";

/**
 * The replicated application (hashicorp/raft's FSM contract).
 * - `apply` is deterministic: the same entries in the same order give the same results on
 *   every node. Its return value is handed to the proposer of that entry, if it waits here.
 * - `snapshot` captures an immutable view; `serialize` does the expensive part later and may
 *   run while further entries are applied. A large state may be captured in steps, awaiting
 *   `pace()` between them: the driver applies nothing until the capture resolves.
 * - `restore` replaces the whole state with a snapshot's. It may work in steps, awaiting
 *   `pace()` between them, and return a promise: the driver applies no entry after the snapshot
 *   before it resolves, and the new state must take effect only then (all at once).
 * - `restoreStored`, optional: `restore` from data read on demand (a stored snapshot read from
 *   its file range by range), for a state machine that can restore without holding the whole
 *   snapshot in memory. Without it the driver reads such data whole and calls `restore`.
 */
export interface StateMachine {
  apply(index: number, data: Uint8Array): unknown;
  snapshot(pace: Pace): SnapshotView | Promise<SnapshotView>;
  restore(data: Uint8Array, pace: Pace): void | Promise<void>;
  restoreStored?(data: SnapshotData, pace: Pace): void | Promise<void>;
}

/**
 * An application snapshot's bytes: one buffer, or parts whose concatenation is the snapshot
 * (the driver writes them into its own buffer once, so the application need not join them).
 */
export type SnapshotBytes = Uint8Array | readonly Uint8Array[];

/** An immutable capture of application state. */
export interface SnapshotView {
  /**
   * Encodes the capture. Long work should be done in bounded steps (a few ms each) with
   * `await pace()` between them, so the node keeps ticking and answering meanwhile.
   */
  serialize(pace: Pace): SnapshotBytes | Promise<SnapshotBytes>;
  /**
   * Optional: the bytes `serialize` gives, as parts encoded one at a time while they are
   * iterated (paced the same way). A store that writes parts as they come (`saveStream`) then
   * holds one part at a time, not the whole encoded state.
   */
  stream?(pace: Pace): AsyncIterable<Uint8Array>;
}

/**
 * Gives the event loop a turn during long background work (encoding, copying and restoring
 * snapshots): called between bounded steps, it resolves at once while the current slice of
 * synchronous work is short, and after a macrotask once it is not (`slicePacer`). A node that
 * stalls its event loop for an election timeout loses its leadership or its leader.
 */
export type Pace = () => Promise<void>;

/** Where outgoing Raft messages go. Never blocks, never throws for a dead peer. */
export interface MessageSink {
  send(messages: readonly Message[]): void;
}

/** The durable (or in-memory) storage of one node. */
export interface StoragePorts {
  readonly log: LogStore;
  readonly hardState: HardStateStore;
  readonly snapshots: SnapshotStore;
}

/** A periodic timer. Returns a function that stops it. */
export type StartTicker = (intervalMs: number, onTick: () => void) => () => void;

/** A one-shot timer. Returns a function that cancels it (a no-op once it fired). */
export type StartTimer = (delayMs: number, onTime: () => void) => () => void;

/** One structured log event. */
export type LogEvent = (
  level: "debug" | "info" | "warn" | "error",
  event: string,
  details?: Record<string, unknown>,
) => void;

/** Called once when the node hits an error it must not carry on from (an fsync failure). */
export type OnFatal = (error: unknown) => void;

/** Re-exported so adapters need one import. */
export type { Snapshot };
