/**
 * The ports of the node driver: what it needs from the application and the outside world. The
 * real adapters (files, WebSockets, timers) and the fakes of tests plug in here.
 *
 * @module
 */

import type { Message, Snapshot } from "../raft/types.ts";
import type { HardStateStore } from "../storage/hard_state_store.ts";
import type { LogStore } from "../storage/log_store.ts";
import type { SnapshotStore } from "../storage/snapshot_store.ts";

/**
 * The replicated application (hashicorp/raft's FSM contract).
 * - `apply` is deterministic: the same entries in the same order give the same results on
 *   every node. Its return value is handed to the proposer of that entry, if it waits here.
 * - `snapshot` returns quickly with an immutable view; `serialize` does the expensive part
 *   later and may run while further entries are applied.
 * - `restore` replaces the whole state with a snapshot's.
 */
export interface StateMachine {
  apply(index: number, data: Uint8Array): unknown;
  snapshot(): SnapshotView;
  restore(data: Uint8Array): void;
}

/** An immutable capture of application state. */
export interface SnapshotView {
  serialize(): Uint8Array | Promise<Uint8Array>;
}

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
