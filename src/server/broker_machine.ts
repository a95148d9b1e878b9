/**
 * The broker as the node driver's state machine: entries are encoded broker envelopes.
 *
 * @module
 */

import type { SnapshotView, StateMachine } from "../../cluster/node/ports.ts";
import { BrokerState } from "../broker/mod.ts";
import { captureSnapshot, restoreSnapshot } from "../broker/snapshot.ts";

export class BrokerMachine implements StateMachine {
  /** The replica; replaced whole by `restore`, so read it through this field every time. */
  state = new BrokerState();

  apply(index: number, data: Uint8Array): unknown {
    return this.state.applyEntry(index, data);
  }

  snapshot(): SnapshotView {
    return captureSnapshot(this.state);
  }

  restore(data: Uint8Array): void {
    this.state = restoreSnapshot(data);
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
