/**
 * The bound on what a connection holds waiting for its batch (`Inbound`): past 10,000 PUBLISHes
 * and PUBRELs, or 16 MiB of payload, its socket is not read until the pump takes some (TCP then
 * holds the client back). Without it a client sending faster than the log commits (a QoS 0
 * flood, or any client while the cluster has no leader: a batch is retried for up to 15 s) grew
 * the node's memory without bound.
 *
 * @module
 */

const QUEUED_MAX = 10_000;
const QUEUED_BYTES_MAX = 16 << 20;

/** The payload bytes waiting, and the reader waiting for room. */
export class Backlog {
  /** The payload bytes of the PUBLISHes waiting. */
  bytes = 0;
  #room: PromiseWithResolvers<void> | undefined;

  /**
   * Undefined while `packets` waiting (and `bytes`) are within the bounds, or the connection's
   * inbound half `stopped`; else resolves once they are (`check`).
   */
  wait(packets: number, stopped: boolean): Promise<void> | undefined {
    if (stopped || this.#within(packets)) return undefined;
    this.#room ??= Promise.withResolvers();
    return this.#room.promise;
  }

  /** Wakes the waiting reader when there is room again (or the half `stopped`). */
  check(packets: number, stopped: boolean): void {
    if (this.#room === undefined || !(stopped || this.#within(packets))) return;
    this.#room.resolve();
    this.#room = undefined;
  }

  #within(packets: number): boolean {
    return packets < QUEUED_MAX && this.bytes < QUEUED_BYTES_MAX;
  }
}
