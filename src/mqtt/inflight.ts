/**
 * A connection's deliveries awaiting the client (QoS 1: PUBACK; QoS 2: PUBREC, then PUBCOMP), by
 * packet id. A QoS 2 delivery's packet id comes from its message (its topic seq), so the same
 * message sent again after a reconnect, on any node, carries the same id: a client still holding
 * that id (it answered PUBREC, no PUBREL came) takes it as the duplicate it is. Its receipt is
 * acked only at PUBCOMP: until then the message stays the session's.
 *
 * @module
 */

/** One delivery awaiting the client. A retained message sent at SUBSCRIBE has no receipt. */
export interface InflightEntry {
  /** The subscription it came from, and its receipt ("": none). */
  readonly path: string;
  receipt: string;
  readonly qos: 1 | 2;
  /** The topic seq of the message (QoS 2: names its packet id). */
  readonly seq: number;
  /** QoS 2: PUBREC came and PUBREL went; the PUBLISH is not sent again on this connection. */
  released: boolean;
  /**
   * A retained message sent at SUBSCRIBE: this connection's only (QoS 2: PUBREL at PUBREC, no
   * settle, and its id is not held in the session's claim).
   */
  readonly local?: boolean;
}

export class Inflight {
  readonly #byId = new Map<number, InflightEntry>();
  #next = 1;

  get size(): number {
    return this.#byId.size;
  }

  get(id: number): InflightEntry | undefined {
    return this.#byId.get(id);
  }

  set(id: number, e: InflightEntry): void {
    this.#byId.set(id, e);
  }

  delete(id: number): void {
    this.#byId.delete(id);
  }

  values(): IterableIterator<InflightEntry> {
    return this.#byId.values();
  }

  clear(): void {
    this.#byId.clear();
  }

  /**
   * A QoS 1 message of subscription `path` this connection sent and awaits the PUBACK of, come
   * back from the broker (its lease ended): it takes the new `receipt`, so the PUBACK settles it,
   * and is not sent again (MQTT 5 4.4.0-1: only at a reconnect); true when there was one.
   */
  renew(path: string, seq: number, receipt: string): boolean {
    for (const e of this.#byId.values()) {
      if (e.qos !== 1 || e.seq !== seq || e.path !== path || e.receipt === "") continue;
      e.receipt = receipt;
      return true;
    }
    return false;
  }

  /** A free packet id for a QoS 1 delivery. */
  allocate(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.#next;
      this.#next = id === 65535 ? 1 : id + 1;
      if (!this.#byId.has(id)) return id;
    }
    throw new Error("no free packet id");
  }
}

/** The packet id of a QoS 2 delivery of the message with topic seq `seq` (1..65535). */
export function exactlyOnceId(seq: number): number {
  return (seq % 65535) + 1;
}
