/**
 * The PUBLISHes and PUBRELs a connection holds waiting for their batch, bounded. Past
 * `QUEUED_MAX` packets or `QUEUED_BYTES_MAX` payload bytes its socket is not read until the pump
 * takes some (TCP then holds the client back). Without the bound a client sending faster than the
 * log commits (a QoS 0 flood, or any client while the cluster has no leader: a batch is retried
 * for up to 15 s) grew the node's memory without bound.
 *
 * @module
 */

import type { IPublishPacket, IPubrelPacket } from "mqtt-packet";

const QUEUED_MAX = 10_000;
const QUEUED_BYTES_MAX = 16 << 20;

/** A packet waiting for its batch. */
export type QueuedPacket = IPublishPacket | IPubrelPacket;

/** The packets in arrival order, their payload bytes, and the reader waiting for room. */
export class PacketQueue {
  readonly #items: QueuedPacket[] = [];
  #bytes = 0;
  /** Nothing more is taken (the inbound half stopped): the reader never waits. */
  #ended = false;
  /** Resolved once the queue is below its bounds again (`hold`). */
  #room: PromiseWithResolvers<void> | undefined;

  get length(): number {
    return this.#items.length;
  }

  push(p: QueuedPacket): void {
    this.#items.push(p);
    if (p.cmd === "publish") this.#bytes += p.payload.length;
  }

  /** The first packets, up to `max`, of the first one's kind (one batch's run). */
  takeRun(max: number): QueuedPacket[] {
    const kind = this.#items[0]?.cmd;
    let n = 0;
    while (n < this.#items.length && n < max && this.#items[n].cmd === kind) n++;
    const run = this.#items.splice(0, n);
    for (const p of run) if (p.cmd === "publish") this.#bytes -= p.payload.length;
    this.#wake();
    return run;
  }

  /** Nothing more will be taken: a waiting reader goes on (and what it reads is dropped). */
  end(): void {
    this.#ended = true;
    this.#wake();
  }

  /**
   * Undefined while the queue is within its bounds; else a promise that resolves once it is
   * again (or ended): the connection reads its socket again then.
   */
  hold(): Promise<void> | undefined {
    if (this.#roomy()) return undefined;
    this.#room ??= Promise.withResolvers();
    return this.#room.promise;
  }

  #roomy(): boolean {
    return this.#ended || (this.#items.length < QUEUED_MAX && this.#bytes < QUEUED_BYTES_MAX);
  }

  #wake(): void {
    if (this.#room === undefined || !this.#roomy()) return;
    this.#room.resolve();
    this.#room = undefined;
  }
}
