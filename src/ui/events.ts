/**
 * The recent cluster events a node saw (elections, membership changes, snapshots), kept in a
 * bounded in-memory ring for the dashboard: nothing is persisted, a restart starts it empty.
 *
 * @module
 */

/** One remembered event. */
export interface ClusterEvent {
  /** Wall-clock ms when this node saw it. */
  readonly at: number;
  readonly event: string;
  readonly details: Readonly<Record<string, unknown>>;
}

/** The driver log events worth an operator's eye on the cluster page. */
export const RING_EVENTS: ReadonlySet<string> = new Set([
  "node_started",
  "leader_changed",
  "membership_changed",
  // A member back with another data directory, ignored until removed and added again.
  "member_incarnation_refused",
  "snapshot_taken",
  "snapshot_restored",
]);

/** Keeps the last `capacity` events; older ones are overwritten. */
export class EventRing {
  readonly #items: (ClusterEvent | undefined)[];
  #next = 0;
  #count = 0;

  constructor(readonly capacity = 200, private readonly now: () => number = Date.now) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new Error(`Cannot make an event ring of capacity ${capacity}`);
    }
    this.#items = new Array(capacity);
  }

  /** Records a driver log event when it is one of `RING_EVENTS`. */
  record(event: string, details: Readonly<Record<string, unknown>> = {}): void {
    if (!RING_EVENTS.has(event)) return;
    this.#items[this.#next] = { at: this.now(), event, details };
    this.#next = (this.#next + 1) % this.capacity;
    this.#count = Math.min(this.#count + 1, this.capacity);
  }

  /** The remembered events, newest first. */
  recent(): ClusterEvent[] {
    const out: ClusterEvent[] = [];
    for (let i = 1; i <= this.#count; i++) {
      out.push(this.#items[(this.#next - i + this.capacity) % this.capacity]!);
    }
    return out;
  }
}
