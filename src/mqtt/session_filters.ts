/**
 * Where a session's topic filters live: one durable subscription per QoS level on the MQTT topic
 * (`sessionSubscription`), whose filters are the subject patterns of the MQTT filters granted that
 * level. Loaded at CONNECT for a persistent session, written at each SUBSCRIBE and UNSUBSCRIBE
 * (only the levels that changed).
 *
 * @module
 */

import { type BrokerApi, MQTT_TOPIC } from "./broker_api.ts";
import { FILTERS_MAX } from "../broker/mod.ts";
import type { SessionOwner } from "./session.ts";
import { DELIVERY_LEASE_MS, sessionSubscription } from "./subscriptions.ts";
import { filterToPatterns, patternToFilter } from "./topics.ts";

export type Qos = 0 | 1 | 2;
export const QOS_LEVELS = [0, 1, 2] as const;

/** Topic filters by granted QoS. */
export type FiltersByQos = [Set<string>, Set<string>, Set<string>];

export class SessionFilters {
  readonly #api: BrokerApi;
  readonly #owner: SessionOwner;
  /** The patterns each level's subscription was last written with (undefined: none there). */
  readonly #saved: (string | undefined)[] = [undefined, undefined, undefined];
  /**
   * False once the connection has ended: a write is not retried after that. Nobody waits for its
   * answer, and a retry that landed after the client took its session over on another connection
   * and changed its filters there would undo them (the late PUT or DELETE is not fenced by the
   * claim's holder: docs/mqtt.md, holder fence).
   */
  readonly #live: () => boolean;

  constructor(api: BrokerApi, owner: SessionOwner, live: () => boolean = () => true) {
    this.#api = api;
    this.#owner = owner;
    this.#live = live;
  }

  /** The path of the session's subscription for `qos`. */
  path(qos: Qos): string {
    return `/v1/topics/${MQTT_TOPIC}/subscriptions/${sessionSubscription(this.#owner, qos)}`;
  }

  /** Adds the stored filters to `filters`; whether the session had any subscription. */
  async load(filters: FiltersByQos): Promise<boolean> {
    let present = false;
    for (const qos of QOS_LEVELS) {
      const a = await this.#api.call("GET", this.path(qos));
      if (a.status !== 200) continue;
      present = true;
      const patterns: string[] = a.body.filters ?? [];
      const stored = new Set(patterns);
      for (const p of patterns) {
        // `a/#` is kept as `a.>` and `a`: the bare one is its parent level, not a filter of its
        // own (read back as one, an UNSUBSCRIBE of `a/#` left `a` subscribed).
        if (!stored.has(`${p}.>`)) filters[qos].add(patternToFilter(p));
      }
      this.#saved[qos] = [...new Set(patterns)].sort().join("\n");
    }
    return present;
  }

  /**
   * Writes the levels whose filters changed; an error text when the broker refused. A level past
   * the broker's patterns per subscription is refused before anything is written: a move from
   * one level to a full one must not leave the filter in neither.
   */
  async save(filters: FiltersByQos): Promise<string | undefined> {
    const levels = QOS_LEVELS.map((qos) =>
      [
        ...new Set([...filters[qos]].flatMap((f) => {
          const r = filterToPatterns(f);
          return "patterns" in r ? r.patterns : [];
        })),
      ].sort()
    );
    const over = levels.findIndex((patterns) => patterns.length > FILTERS_MAX);
    if (over >= 0) return `QoS ${over}: ${levels[over].length} patterns, at most ${FILTERS_MAX}`;
    for (const qos of QOS_LEVELS) {
      const patterns = levels[qos];
      // Only the levels that changed: a SUBSCRIBE is one write, not one per QoS.
      const key = patterns.length === 0 ? undefined : patterns.join("\n");
      if (key === this.#saved[qos]) continue;
      if (key === undefined) {
        const a = await this.#write("DELETE", qos, {});
        if (a.status !== 204 && a.status !== 404) return `${a.status} ${a.body?.detail ?? ""}`;
        this.#saved[qos] = undefined;
        continue;
      }
      const body = {
        filters: patterns,
        deliveryMode: qos === 0 ? "at_most_once" : "at_least_once",
        ...(qos > 0 ? { leaseMs: DELIVERY_LEASE_MS } : {}),
      };
      const a = await this.#write("PUT", qos, body);
      if (a.status !== 200 && a.status !== 201) return `${a.status} ${a.body?.detail ?? ""}`;
      this.#saved[qos] = key;
    }
    return undefined;
  }

  #write(method: string, qos: Qos, body: unknown) {
    return this.#api.write(method, this.path(qos), body, {}, undefined, undefined, this.#live);
  }
}
