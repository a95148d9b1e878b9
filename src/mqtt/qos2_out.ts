/**
 * QoS 2 to a subscriber, the broker's side of PUBREC and PUBCOMP. At PUBREC the message is
 * settled (its receipt acked) and its packet id held in the session's claim, in one entry
 * (`claim_settle`), and only then PUBREL goes: from then on the session owes a PUBREL for that id,
 * not the PUBLISH, on whichever node the client connects next (the take answers the held ids).
 * PUBCOMP frees the id (`claim_free`). Both are batched: the PUBRECs and PUBCOMPs that come while
 * one entry is being committed go in the next. Both name the connection's holder: a late retry of
 * a connection that ended settles and frees nothing (`session_moved`), as its packet ids may carry
 * the next connection's messages by then (test/chaos/FINDINGS.md, F11).
 *
 * @module
 */

import type { Packet } from "mqtt-packet";
import { MQTT_TOPIC } from "./broker_api.ts";
import { holding, type InboundHost } from "./inbound.ts";
import { sessionKey } from "./session.ts";

/** A PUBREL to a client of protocol `version` (v5: with its reason code). */
export function pubrel(version: number, messageId: number, reasonCode: number): Packet {
  return (version === 5
    ? { cmd: "pubrel", messageId, reasonCode }
    : { cmd: "pubrel", messageId }) as Packet;
}

interface Settle {
  readonly id: number;
  readonly subscription: string;
  readonly receipt: string;
}

export class Qos2Out {
  readonly #settles: Settle[] = [];
  readonly #done: number[] = [];
  #flushing = false;
  readonly #path: string;
  /** `{ holder }` of the connection, on each write. */
  readonly #holding: { holder?: string };

  constructor(
    readonly host: Pick<InboundHost, "api" | "owner" | "holder" | "live">,
    /** PUBREL may go for these ids now. */
    readonly settled: (ids: number[]) => void,
    readonly fail: (detail: string) => void,
  ) {
    this.#path = `/v1/topics/${MQTT_TOPIC}/claims/${sessionKey(host.owner)}`;
    this.#holding = holding(host.holder);
  }

  /** A write, not retried once the connection ended. */
  #write(path: string, body: Record<string, unknown>) {
    const live = () => this.host.live?.() ?? true;
    const all = { ...body, ...this.#holding };
    return this.host.api.write(
      "POST",
      `${this.#path}${path}`,
      all,
      {},
      undefined,
      undefined,
      live,
    );
  }

  /** PUBREC for a delivery of `subscriptionPath` with `receipt`: settle, then PUBREL. */
  settle(id: number, subscriptionPath: string, receipt: string): void {
    const subscription = subscriptionPath.slice(subscriptionPath.lastIndexOf("/") + 1);
    this.#settles.push({ id, subscription, receipt });
    this.#flush();
  }

  /** PUBCOMP: the id is free again. */
  done(id: number): void {
    this.#done.push(id);
    this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      for (let i = 0; (this.#settles.length > 0 || this.#done.length > 0) && i < 100_000; i++) {
        if (this.#settles.length > 0) await this.#settleSome();
        if (this.#done.length > 0) {
          const pubrels = this.#done.splice(0, 1000);
          await this.#write("/free", { slots: [], pubrels });
        }
      }
    } catch (e) {
      this.fail(`QoS 2 settle failed: ${e}`);
    } finally {
      this.#flushing = false;
    }
  }

  /** One entry for the settles of one subscription (the first one's). */
  async #settleSome(): Promise<void> {
    const subscription = this.#settles[0].subscription;
    const batch: Settle[] = [];
    for (let i = 0; i < this.#settles.length && batch.length < 1000;) {
      if (this.#settles[i].subscription === subscription) {
        batch.push(...this.#settles.splice(i, 1));
      } else i++;
    }
    const a = await this.#write("/settle", {
      subscription,
      receipts: batch.map((s) => s.receipt),
      hold: batch.map((s) => s.id),
    });
    // Not settled: no PUBREL (the message comes again with the same id, a duplicate to the
    // client), and the connection ends.
    if (a.status !== 200) return this.fail(`QoS 2 settle answered ${a.status}`);
    this.settled(batch.map((s) => s.id));
  }
}
