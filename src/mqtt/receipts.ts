/**
 * A connection's acks and nacks of the deliveries it received from the session's subscriptions.
 * Acks are gathered per subscription and written up to 1,000 at a time, one write at a time; a
 * nack goes at once (the message returns to the session for its next delivery).
 *
 * @module
 */

import type { BrokerApi } from "./broker_api.ts";

/** Most receipts in one ack write. */
const ACKS_PER_WRITE = 1000;

export class Receipts {
  readonly #api: BrokerApi;
  /** Receipts to ack, by subscription path. */
  readonly #acks = new Map<string, string[]>();
  #acking = false;
  /** An ack write failed (its receipts wait out their lease: the messages come again). */
  readonly #failed: (e: unknown) => void;

  constructor(api: BrokerApi, failed: (e: unknown) => void) {
    this.#api = api;
    this.#failed = failed;
  }

  ack(path: string, receipt: string): void {
    const list = this.#acks.get(path);
    if (list === undefined) this.#acks.set(path, [receipt]);
    else list.push(receipt);
    this.#flush();
  }

  nack(path: string, receipt: string, delayMs = 0): void {
    const body = delayMs > 0 ? { receipts: [receipt], delayMs } : { receipts: [receipt] };
    this.#api.write("POST", `${path}/nack`, body).catch(() => {});
  }

  async #flush(): Promise<void> {
    if (this.#acking) return;
    this.#acking = true;
    try {
      for (let i = 0; this.#acks.size > 0 && i < 100_000; i++) {
        const [path, all] = this.#acks.entries().next().value!;
        const receipts = all.splice(0, ACKS_PER_WRITE);
        if (all.length === 0) this.#acks.delete(path);
        await this.#api.write("POST", `${path}/ack`, { receipts });
      }
    } catch (e) {
      // No one awaits this loop: a throw here ended the node (an unhandled rejection). The
      // receipts wait out their lease and the messages come again, as after any lost ack.
      this.#failed(e);
    } finally {
      this.#acking = false;
    }
  }
}
