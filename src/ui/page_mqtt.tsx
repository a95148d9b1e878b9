/**
 * MQTT sessions, read from the `mqtt` topic's subscriptions (docs/mqtt.md): a session is
 * `mqtt-{hash}-q0` / `-q1` / `-q2` (one per granted QoS), a shared subscription is
 * `mqtt-share-{hash}`. The names
 * hold a hash of the client id, not the id itself, so the page shows a session's key and finds the
 * session of a client id typed into its form (hashed here the way the gateway hashes it).
 *
 * @module
 */

import type { BrokerState, SubscriptionInfo } from "../broker/mod.ts";
import { MQTT_TOPIC, patternToFilter, sessionSubscription } from "../mqtt/mod.ts";
import { Layout, n, type PageFrame } from "./layout.tsx";

/** One MQTT session, or one shared subscription (`$share/...`, QoS 1). */
export interface MqttSessionRow {
  /** `mqtt-{hash}` for a session, `mqtt-share-{hash}` for a shared subscription. */
  readonly key: string;
  readonly shared: boolean;
  /** Known when the viewer looked this session up by its client id. */
  readonly clientId?: string;
  /** MQTT topic filters with the QoS they were granted. */
  readonly filters: readonly { readonly filter: string; readonly qos: 0 | 1 | 2 }[];
  readonly ready: number;
  readonly leased: number;
}

const SESSION_SUB = /^(mqtt-[0-9a-f]{40})-q([012])$/;
const SHARED_SUB = /^mqtt-share-[0-9a-f]{40}$/;

/** The sessions of the `mqtt` topic, sorted by key; `clientId` labels its own session. */
export function mqttSessions(
  broker: Pick<BrokerState, "topic" | "subscription">,
  clientId?: string,
): MqttSessionRow[] {
  const topic = broker.topic(MQTT_TOPIC);
  if (topic === undefined) return [];
  const wanted = clientId
    ? sessionSubscription({ clientId, principal: undefined }, 0).slice(0, -"-q0".length)
    : undefined;
  const rows = new Map<string, MqttSessionRow>();
  for (const name of topic.subscriptions) {
    const sub = broker.subscription(MQTT_TOPIC, name);
    const m = SESSION_SUB.exec(name);
    if (sub === undefined || (m === null && !SHARED_SUB.test(name))) continue;
    const key = m === null ? name : m[1];
    const qos = m === null ? 1 : Number(m[2]) as 0 | 1 | 2;
    const row = rows.get(key) ?? {
      key,
      shared: m === null,
      ...(key === wanted ? { clientId } : {}),
      filters: [],
      ready: 0,
      leased: 0,
    };
    rows.set(key, merge(row, sub, qos));
  }
  return [...rows.values()].sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

function merge(row: MqttSessionRow, sub: SubscriptionInfo, qos: 0 | 1 | 2): MqttSessionRow {
  // A `#` filter is two patterns (`a.>` and `a`): show the filter once, as the client sent it.
  const patterns = sub.config.filters ?? [];
  const filters = patterns.filter((p) => !patterns.includes(`${p}.>`))
    .map((p) => ({ filter: patternToFilter(p), qos }));
  return {
    ...row,
    filters: [...row.filters, ...filters],
    ready: row.ready + sub.stats.ready,
    leased: row.leased + sub.stats.leased,
  };
}

export function MqttPage(
  props: { frame: PageFrame; rows: readonly MqttSessionRow[]; clientId: string },
) {
  return (
    <Layout frame={props.frame} title="MQTT sessions">
      <section class="card">
        <h2>
          MQTT sessions <span class="muted">{n(props.rows.length)}</span>
        </h2>
        <form method="get" action="/ui/mqtt" class="filter">
          <input name="client" placeholder="client id" value={props.clientId} />
          <button type="submit">Find</button>
        </form>
        <div class="scroll">
          <table id="mqtt-sessions" class="list">
            <thead>
              <tr>
                <th>Session</th>
                <th>Client id</th>
                <th>Filters (QoS)</th>
                <th class="num">Ready</th>
                <th class="num">Leased</th>
              </tr>
            </thead>
            <tbody>
              {props.rows.map((r) => (
                <tr data-session={r.key} class={r.clientId !== undefined ? "found" : ""}>
                  <td>
                    <code>{r.key}</code>
                    {r.shared ? <span class="muted small">shared</span> : null}
                  </td>
                  <td>{r.clientId ?? <span class="muted">—</span>}</td>
                  <td>
                    {r.filters.map((f) => (
                      <div>
                        <code>
                          {f.filter} ({f.qos})
                        </code>
                      </div>
                    ))}
                  </td>
                  <td class="num">{n(r.ready)}</td>
                  <td class="num">{n(r.leased)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </Layout>
  );
}
