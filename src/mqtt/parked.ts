/**
 * QoS 1 and 2 deliveries received while the client's receive maximum was reached (a session's
 * loops receive side by side: its QoS 1 and 2 subscriptions and each shared one), oldest first:
 * each is sent once the client answers one before it. A retained message sent at SUBSCRIBE waits
 * as its send. Bounded by the loops' receives (each asks only for the room left).
 *
 * @module
 */

import type { ApiDelivery } from "./broker_api.ts";

type Waiting<S> = { readonly src: S; d: ApiDelivery } | { readonly send: () => void };

/** `S`: the subscription a delivery came from. */
export class Parked<S extends { readonly path: string }> {
  readonly #items: Waiting<S>[] = [];

  get length(): number {
    return this.#items.length;
  }

  /**
   * A delivery waits; one of the same message (its lease ended and brought it back) takes the new
   * receipt in its place.
   */
  delivery(src: S, d: ApiDelivery): void {
    const same = this.#items.find((p) =>
      "src" in p && p.src.path === src.path && p.d.seq === d.seq
    ) as { src: S; d: ApiDelivery } | undefined;
    if (same !== undefined) same.d = d;
    else this.#items.push({ src, d });
  }

  send(send: () => void): void {
    this.#items.push({ send });
  }

  /** Sends the waiting ones, oldest first, while `full()` says there is room. */
  release(full: () => boolean, deliver: (src: S, d: ApiDelivery) => void, running: boolean): void {
    for (let i = 0; this.#items.length > 0 && !full() && i < 100_000; i++) {
      const p = this.#items.shift()!;
      if ("src" in p) deliver(p.src, p.d);
      else if (running) p.send();
    }
  }

  /** Empties it; each waiting delivery goes to `back` (the retained sends are dropped). */
  drain(back: (src: S, d: ApiDelivery) => void): void {
    for (const p of this.#items.splice(0)) if ("src" in p) back(p.src, p.d);
  }
}
