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

  /**
   * This node's proposals whose proposers still wait for their answers, once its batcher counts
   * them (`answerOwnProposalsOnly`); undefined before (every entry is answered: tests, tools).
   * Only a proposer reads an entry's answers (the driver hands each waiting proposal its entry's
   * result), so while none of this node's waits, the entries it applies, every entry a follower
   * applies, are applied without them (`BrokerState.applyEntry`'s `answers`: no publish outcome,
   * delivery or receipt result per message). A count, not the entries: bytes of an entry this
   * node proposed can come back from a peer or the disk as other objects (a leader that lost
   * office, a log read back), so while any proposal waits, every entry is answered.
   */
  #waiting: number | undefined;

  /** Counts this node's proposals from now on, and answers entries only while one waits. */
  answerOwnProposalsOnly(): this {
    this.#waiting ??= 0;
    return this;
  }

  /** The batcher proposed `data` (what it decodes to, when `ownEntry` knows: see `keep`). */
  proposed(data: Uint8Array, entry: DecodedEntry | undefined): void {
    if (entry !== undefined) this.#own.set(data, entry);
    if (this.#waiting !== undefined) this.#waiting++;
  }

  /** The driver settled a proposal `proposed` told of (applied, failed or timed out). */
  settled(): void {
    if (this.#waiting !== undefined && this.#waiting > 0) this.#waiting--;
  }

  apply(index: number, data: Uint8Array): unknown {
    const own = this.#own.get(data);
    if (own !== undefined) this.#own.delete(data);
    const answers = this.#waiting === undefined || this.#waiting > 0;
    return this.state.applyEntry(index, data, own, answers);
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
