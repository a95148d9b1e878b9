/**
 * Acks in batches: acks asked for in the same turn of the event loop go in one request (up to
 * 1000 receipts, the API's bound), with up to 4 requests on their way at once (the leader commits
 * concurrent proposals together); an ack asked for while 4 are on their way waits for one of them,
 * then goes with every other one that waited. Under load a consumer's acks therefore cost one
 * request per batch; alone, an ack goes at once.
 *
 * @module
 */

import type { SettleResult } from "./types.ts";

/** Most receipts in one ack request. */
const MAX_BATCH = 1000;
/** Most ack requests on their way at once. */
const MAX_SENDING = 4;

interface Waiting {
  readonly receipt: string;
  resolve(result: SettleResult | undefined): void;
  reject(error: unknown): void;
}

/** Coalesces acks of one source (see the module doc). */
export class AckBatcher {
  #waiting: Waiting[] = [];
  #sending = 0;
  #scheduled = false;

  /** `send` acks a list of receipts and answers one result per receipt, in order. */
  constructor(private readonly send: (receipts: string[]) => Promise<SettleResult[]>) {}

  /** Acks one receipt; resolves with its result once its batch is answered. */
  ack(receipt: string): Promise<SettleResult | undefined> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ receipt, resolve, reject });
      this.#schedule();
    });
  }

  /** Sends what waits at the end of this turn, if a request may go now. */
  #schedule(): void {
    if (this.#scheduled || this.#sending >= MAX_SENDING || this.#waiting.length === 0) return;
    this.#scheduled = true;
    setTimeout(() => {
      this.#scheduled = false;
      void this.#sendOne();
    }, 0);
  }

  async #sendOne(): Promise<void> {
    const batch = this.#waiting.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    this.#sending++;
    try {
      const results = await this.send(batch.map((w) => w.receipt));
      batch.forEach((w, i) => w.resolve(results[i]));
    } catch (error) {
      for (const w of batch) w.reject(error);
    } finally {
      this.#sending--;
      this.#schedule();
    }
    // More than one batch waiting and room to send: the next goes at once.
    this.#schedule();
  }
}
