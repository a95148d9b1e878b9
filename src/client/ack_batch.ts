/**
 * Acks in batches: an ack asked for while another is on its way waits for it, then goes with
 * every other one that waited, in one request (up to 1000 receipts, the API's bound). Under load
 * a consumer's acks therefore cost one request per batch; alone, an ack goes at once.
 *
 * @module
 */

import type { SettleResult } from "./types.ts";

/** Most receipts in one ack request. */
const MAX_BATCH = 1000;

interface Waiting {
  readonly receipt: string;
  resolve(result: SettleResult | undefined): void;
  reject(error: unknown): void;
}

/** Coalesces acks of one source (see the module doc). */
export class AckBatcher {
  #waiting: Waiting[] = [];
  #sending = false;

  /** `send` acks a list of receipts and answers one result per receipt, in order. */
  constructor(private readonly send: (receipts: string[]) => Promise<SettleResult[]>) {}

  /** Acks one receipt; resolves with its result once its batch is answered. */
  ack(receipt: string): Promise<SettleResult | undefined> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ receipt, resolve, reject });
      if (!this.#sending) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#sending = true;
    try {
      // Bounded: each round sends what waits; it ends when nothing more came meanwhile.
      while (this.#waiting.length > 0) {
        const batch = this.#waiting.splice(0, MAX_BATCH);
        try {
          const results = await this.send(batch.map((w) => w.receipt));
          batch.forEach((w, i) => w.resolve(results[i]));
        } catch (error) {
          for (const w of batch) w.reject(error);
        }
      }
    } finally {
      this.#sending = false;
    }
  }
}
