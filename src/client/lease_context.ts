/**
 * The context a consumer's handler gets (`ConsumeContext`), its `signal` made lazily.
 *
 * @module
 */

import type { ConsumeContext } from "./consume.ts";

/**
 * A handler's context whose `signal` is made when the handler first reads it: most handlers
 * never do, and an AbortController per message was a tenth of a fast consumer's CPU. Aborted
 * before that, the signal it then makes is aborted already, with the first reason.
 */
export class LeaseContext implements ConsumeContext {
  #controller: AbortController | undefined;
  #aborted: { reason: unknown } | undefined;

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted !== undefined) this.#controller.abort(this.#aborted.reason);
    }
    return this.#controller.signal;
  }

  abort(reason: unknown): void {
    if (this.#aborted !== undefined) return;
    this.#aborted = { reason };
    this.#controller?.abort(reason);
  }
}
