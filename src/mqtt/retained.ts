/**
 * The retained messages a new subscription gets (docs/mqtt.md "Retained messages"): read from the
 * broker's retained state of the MQTT topic, by the filter's subject patterns, and kept only when
 * the filter matches by MQTT's rules (a `$` topic under a first-level wildcard does not).
 *
 * @module
 */

import { type ApiRetained, type BrokerApi, MQTT_TOPIC } from "./broker_api.ts";
import { decodePayload, PAYLOAD_HEADER, publishedQos } from "./payload.ts";
import type { Buffer } from "node:buffer";
import { deliverableTopic, filterToPatterns, topicMatches } from "./topics.ts";

export interface RetainedMessage {
  readonly topic: string;
  readonly payload: Buffer;
  /** The QoS it was published with. */
  readonly qos: number;
  readonly seq: number;
  /** Its headers and entry time of publication: its message expiry left (`expiry.ts`). */
  readonly headers: Readonly<Record<string, string>>;
  readonly publishedAt: number;
}

/**
 * The live retained messages matching `filter`, oldest first (their properties are the sender's
 * to make: `propertiesAt`, with the message expiry left when sent).
 */
export async function retainedFor(
  api: BrokerApi,
  filter: string,
): Promise<RetainedMessage[]> {
  const patterns = filterToPatterns(filter);
  if ("error" in patterns) return [];
  const bySubject = new Map<string, ApiRetained>();
  for (const pattern of patterns.patterns) {
    const a = await api.call(
      "GET",
      `/v1/topics/${MQTT_TOPIC}/retained?subject=${encodeURIComponent(pattern)}`,
    );
    if (a.status !== 200) continue;
    for (const m of a.body.messages as ApiRetained[]) bySubject.set(m.subject, m);
  }
  return [...bySubject.values()].sort((a, b) => a.seq - b.seq).flatMap((m) => {
    const topic = deliverableTopic(m.subject);
    if (topic === undefined || !topicMatches(filter, topic)) return [];
    const payload = decodePayload(m.body, m.headers[PAYLOAD_HEADER]);
    const qos = publishedQos(m.headers["mqtt-qos"]);
    return [{
      topic,
      payload,
      qos,
      seq: m.seq,
      headers: m.headers,
      publishedAt: m.publishedAt,
    }];
  });
}
