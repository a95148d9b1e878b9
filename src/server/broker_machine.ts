/**
 * The broker as the node driver's state machine: entries are encoded broker envelopes.
 *
 * @module
 */

import type { Pace, SnapshotView, StateMachine } from "../../cluster/node/mod.ts";
import {
  BrokerState,
  captureSteps,
  type DecodedEntry,
  restoreSteps,
  type SnapshotSource,
} from "../broker/mod.ts";

export class BrokerMachine implements StateMachine {
  /** The replica; replaced whole by `restore`, so read it through this field every time. */
  state = new BrokerState();
  /**
   * Entries this node proposed, decoded already (`ownEntry`), by their bytes: the very object
   * the proposal handed to the driver, which the driver gives back to apply while it holds the
   * entry in memory. Bytes read back from the disk or a peer are other objects, and decoded.
   */
  readonly #own = new WeakMap<Uint8Array, DecodedEntry>();

  /** Remembers `entry` as what `data` (an entry this node proposes) decodes to. */
  keep(data: Uint8Array, entry: DecodedEntry): void {
    this.#own.set(data, entry);
  }

  apply(index: number, data: Uint8Array): unknown {
    const own = this.#own.get(data);
    if (own !== undefined) this.#own.delete(data);
    return this.state.applyEntry(index, data, own);
  }

  /**
   * The broker captures and encodes in bounded steps; the driver's pacer runs between them (it
   * applies nothing until the capture is done, so the state holds still).
   */
  async snapshot(pace: Pace): Promise<SnapshotView> {
    const steps = captureSteps(this.state);
    let step = steps.next();
    while (!step.done) {
      await pace();
      step = steps.next();
    }
    const view = step.value;
    return {
      serialize: async (pace: Pace) => {
        const parts: Uint8Array[] = [];
        for (const part of view.parts()) {
          parts.push(part);
          await pace();
        }
        return parts;
      },
      // Streamed once to the store: each captured block goes as soon as it is encoded.
      stream: async function* (pace: Pace) {
        for (const part of view.drain()) {
          yield part;
          await pace();
        }
      },
    };
  }

  /** Restores in bounded steps; the state is replaced only once the last one is done. */
  async restore(data: Uint8Array, pace: Pace): Promise<void> {
    await this.restoreStored(data, pace);
  }

  /**
   * `restore` from a stored snapshot read on demand: `restoreSteps` reads it a window at a time
   * (`READ_WINDOW_BYTES`), so the snapshot is never whole in memory beside the state it builds.
   */
  async restoreStored(data: SnapshotSource, pace: Pace): Promise<void> {
    const steps = restoreSteps(data);
    let step = steps.next();
    while (!step.done) {
      await pace();
      step = steps.next();
    }
    this.state = step.value;
  }

  /** Entry time of the earliest pending timed event (lease end, delay, TTL), if any. */
  nextEventAt(): number | undefined {
    return this.state.events.peek()?.at;
  }

  /** The last entry time applied. */
  get lastTs(): number {
    return this.state.lastTs;
  }
}
