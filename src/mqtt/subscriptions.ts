/**
 * The quorumq subscriptions behind an MQTT session (docs/mqtt.md "Sessions"): the session's own,
 * one per granted QoS, and the shared ones of `$share/{group}/{filter}`.
 *
 * @module
 */

import { type BrokerApi, MQTT_TOPIC } from "./broker_api.ts";
import { createHash } from "node:crypto";
import { filterToPatterns, parseShared } from "./topics.ts";
import { sessionHash, type SessionOwner } from "./session.ts";
import type { Qos } from "./session_filters.ts";

/** How long a QoS 1 or 2 delivery waits for the client before it is sent again (with DUP). */
export const DELIVERY_LEASE_MS = 10_000;

/**
 * What CONNECT says of the session: v3.1.1's clean session is both; v5's clean start drops the
 * old one, and a session expiry interval of 0 (the default) ends it with the connection.
 */
/** A subscription a loop receives from: the session's own three, or a shared one. */
export interface Source {
  readonly path: string;
  readonly qos: Qos;
  /** The QoS granted (a shared subscription is at least once, and may be granted 0). */
  readonly maxQos: Qos;
  /** The MQTT filters deliveries are checked against. */
  readonly filters: Set<string>;
  /** False once a shared subscription is left. */
  active: boolean;
}

export interface SessionLife {
  readonly cleanStart: boolean;
  readonly endsWithConnection: boolean;
  /** The most QoS 1 and 2 deliveries awaiting the client (capped at 64). */
  readonly receiveMaximum: number;
}

/** The subscription names of a session (one per granted QoS). */
export function sessionSubscription(owner: SessionOwner, qos: 0 | 1 | 2): string {
  return `mqtt-${sessionHash(owner)}-q${qos}`;
}

/**
 * Creates (or finds) the subscription of `$share/{group}/{filter}`: one at-least-once
 * subscription per (group, filter), that every member's connection receives from (competing
 * consumers); its path and MQTT filter, or the SUBACK code of a refusal.
 */
export async function joinShared(
  api: BrokerApi,
  topic: string,
  version: number,
): Promise<{ path: string; filters: Set<string> } | number> {
  const sh = parseShared(topic);
  const patterns = sh === undefined ? undefined : filterToPatterns(sh.filter);
  if (sh === undefined || patterns === undefined || "error" in patterns) {
    return version === 5 ? 0x8f : 0x80;
  }
  const h = createHash("sha256").update(`${sh.group}\u0000${sh.filter}`).digest("hex");
  const path = `/v1/topics/${MQTT_TOPIC}/subscriptions/mqtt-share-${h.slice(0, 40)}`;
  const body = {
    filters: patterns.patterns,
    deliveryMode: "at_least_once",
    leaseMs: DELIVERY_LEASE_MS,
  };
  const a = await api.write("PUT", path, body);
  if (a.status !== 200 && a.status !== 201) return 0x80;
  return { path, filters: new Set([sh.filter]) };
}
