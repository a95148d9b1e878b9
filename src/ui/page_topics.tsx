/**
 * Topics and their subscriptions, filtered by name, sorted and paged on the server like the
 * queue list. Subscriptions come most-behind first (cursor lag: topic messages not yet taken).
 *
 * @module
 */

import type { SubscriptionInfo, TopicInfo } from "../broker/mod.ts";
import { bytes, Layout, n, type PageFrame } from "./layout.tsx";
import { cut, Filter, type ListQuery, Pager, SortHeader } from "./page_lists.tsx";

/** A subscription with the topic it reads. */
export interface SubscriptionRow {
  readonly topic: TopicInfo;
  readonly sub: SubscriptionInfo;
}

const TOPIC_COLUMNS = [
  ["name", "Topic", false],
  ["messages", "Retained", false],
  ["bytes", "Bytes", true],
  ["published", "Published", false],
  ["subscriptions", "Subscriptions", true],
] as const;

export const TOPIC_SORTS: readonly string[] = TOPIC_COLUMNS.map(([k]) => k);

function topicValue(t: TopicInfo, column: string): number | string {
  switch (column) {
    case "messages":
      return t.messages;
    case "bytes":
      return t.bytes;
    case "published":
      return t.published;
    case "subscriptions":
      return t.subscriptions.length;
    default:
      return t.name;
  }
}

/** Entries of the topic this subscription has not taken yet. */
export function cursorLag(row: SubscriptionRow): number {
  return Math.max(0, row.topic.nextSeq - row.sub.cursor);
}

export function TopicsPage(
  props: {
    frame: PageFrame;
    topics: readonly TopicInfo[];
    subs: readonly SubscriptionRow[];
    query: ListQuery;
  },
) {
  const { query } = props;
  const topics = cut(props.topics, query, (t) => t.name, topicValue);
  const subs = cut(
    props.subs,
    { ...query, sort: "lag", dir: "desc", page: 1 },
    (r) => `${r.topic.name}/${r.sub.name}`,
    cursorLag,
  );
  return (
    <Layout frame={props.frame} title="Topics">
      <section class="card">
        <h2>
          Topics <span class="muted">{n(topics.total)}</span>
        </h2>
        <Filter query={query} base="/ui/topics" />
        <div class="scroll">
          <table id="topics" class="list">
            <thead>
              <tr>
                {TOPIC_COLUMNS.map(([k, label, opt]) => (
                  <SortHeader
                    column={k}
                    label={label}
                    query={query}
                    base="/ui/topics"
                    optional={opt}
                  />
                ))}
              </tr>
            </thead>
            <tbody>
              {topics.rows.map((t) => (
                <tr data-topic={t.name}>
                  <td>{t.name}</td>
                  <td class="num">{n(t.messages)}</td>
                  <td class="num opt">{bytes(t.bytes)}</td>
                  <td class="num">{n(t.published)}</td>
                  <td class="num opt">{t.subscriptions.length}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <Pager query={query} pages={topics.pages} base="/ui/topics" />
      </section>
      <SubscriptionsCard rows={subs.rows} total={subs.total} />
    </Layout>
  );
}

function SubscriptionsCard(props: { rows: readonly SubscriptionRow[]; total: number }) {
  return (
    <section class="card">
      <h2>
        Subscriptions <span class="muted">{n(props.total)}</span>
        {props.total > props.rows.length
          ? <span class="muted small">the {props.rows.length} most behind</span>
          : null}
      </h2>
      <div class="scroll">
        <table id="subscriptions" class="list">
          <thead>
            <tr>
              <th>Topic / subscription</th>
              <th class="num">Cursor lag ▼</th>
              <th class="num">Ready</th>
              <th class="num">Leased</th>
              <th class="num opt">Delayed</th>
              <th class="num">Dead-lettered</th>
              <th class="num opt">Acked</th>
            </tr>
          </thead>
          <tbody>
            {props.rows.map((row) => (
              <tr data-subscription={`${row.topic.name}/${row.sub.name}`}>
                <td>
                  {row.topic.name} / <b>{row.sub.name}</b>
                </td>
                <td class="num">{n(cursorLag(row))}</td>
                <td class="num">{n(row.sub.stats.ready)}</td>
                <td class="num">{n(row.sub.stats.leased)}</td>
                <td class="num opt">{n(row.sub.stats.delayed)}</td>
                <td class="num">{n(row.sub.stats.deadLettered)}</td>
                <td class="num opt">{n(row.sub.stats.acked)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
