/**
 * The queue list and the pieces every list shares: filtered, sorted and paged on the server, so
 * a page costs the same with 10 queues or 10,000 (one pass to filter, one sort, 100 rows sent).
 *
 * @module
 */

import type { QueueInfo } from "../broker/mod.ts";
import { bytes, Layout, n, type PageFrame } from "./layout.tsx";

/** Rows a list page shows. */
export const PAGE_ROWS = 100;

/** How a list is cut: `?filter=&sort=&dir=&page=`. */
export interface ListQuery {
  readonly filter: string;
  readonly sort: string;
  readonly dir: "asc" | "desc";
  /** From 1. */
  readonly page: number;
}

/** Reads a list's query, falling back to name order for a column it does not know. */
export function listQuery(url: URL, columns: readonly string[]): ListQuery {
  const sort = url.searchParams.get("sort") ?? "name";
  const page = Number(url.searchParams.get("page") ?? "1");
  return {
    filter: (url.searchParams.get("filter") ?? "").slice(0, 256),
    sort: columns.includes(sort) ? sort : "name",
    dir: url.searchParams.get("dir") === "desc" ? "desc" : "asc",
    page: Number.isSafeInteger(page) && page >= 1 ? page : 1,
  };
}

/** Filters by a substring of the name, sorts by a column, and cuts out one page. */
export function cut<T>(
  rows: readonly T[],
  q: ListQuery,
  name: (row: T) => string,
  value: (row: T, column: string) => number | string,
): { rows: T[]; total: number; pages: number } {
  const needle = q.filter.toLowerCase();
  const kept = needle === ""
    ? [...rows]
    : rows.filter((r) => name(r).toLowerCase().includes(needle));
  const sign = q.dir === "asc" ? 1 : -1;
  kept.sort((a, b) => {
    const x = value(a, q.sort);
    const y = value(b, q.sort);
    return (x < y ? -1 : x > y ? 1 : name(a) < name(b) ? -1 : 1) * sign;
  });
  const pages = Math.max(1, Math.ceil(kept.length / PAGE_ROWS));
  const start = (Math.min(q.page, pages) - 1) * PAGE_ROWS;
  return { rows: kept.slice(start, start + PAGE_ROWS), total: kept.length, pages };
}

/** Columns: key, label, and whether a phone-sized screen may drop it. */
const QUEUE_COLUMNS = [
  ["name", "Queue", false],
  ["ready", "Ready", false],
  ["leased", "Leased", false],
  ["delayed", "Delayed", true],
  ["deadLettered", "Dead-lettered", false],
  ["bytes", "Bytes", true],
  ["published", "Published", true],
  ["acked", "Acked", true],
] as const;

export const QUEUE_SORTS: readonly string[] = QUEUE_COLUMNS.map(([k]) => k);

export function queueValue(q: QueueInfo, column: string): number | string {
  return column === "name" ? q.name : (q.stats as unknown as Record<string, number>)[column] ?? 0;
}

export function QueuesPage(
  props: { frame: PageFrame; queues: readonly QueueInfo[]; query: ListQuery },
) {
  const { rows, total, pages } = cut(props.queues, props.query, (q) => q.name, queueValue);
  return (
    <Layout frame={props.frame} title="Queues">
      <RateChart title="All queues: messages per second" />
      <section class="card">
        <h2>
          Queues <span class="muted" id="queue-count">{n(total)}</span>
        </h2>
        <Filter query={props.query} base="/ui/queues" />
        <div class="scroll">
          <table id="queues" class="list">
            <thead>
              <tr>
                {QUEUE_COLUMNS.map(([k, label, opt]) => (
                  <SortHeader
                    column={k}
                    label={label}
                    query={props.query}
                    base="/ui/queues"
                    optional={opt}
                  />
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((q) => (
                <tr data-queue={q.name}>
                  <td>
                    <a href={`/ui/queues/${encodeURIComponent(q.name)}`}>{q.name}</a>
                    {q.config.deadLetterQueue
                      ? <span class="muted small dlq">→ {q.config.deadLetterQueue}</span>
                      : null}
                  </td>
                  <td class="num" data-k="ready">{n(q.stats.ready)}</td>
                  <td class="num" data-k="leased">{n(q.stats.leased)}</td>
                  <td class="num opt" data-k="delayed">{n(q.stats.delayed)}</td>
                  <td class="num" data-k="deadLettered">{n(q.stats.deadLettered)}</td>
                  <td class="num opt" data-k="bytes">{bytes(q.stats.bytes)}</td>
                  <td class="num opt" data-k="published">{n(q.stats.published)}</td>
                  <td class="num opt" data-k="acked">{n(q.stats.acked)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <Pager query={props.query} pages={pages} base="/ui/queues" />
      </section>
    </Layout>
  );
}

/** The live chart: the browser module fills it from `/ui/live` (Server-Sent Events). */
export function RateChart(props: { title: string; queue?: string }) {
  return (
    <section class="card">
      <h2>{props.title}</h2>
      <div
        class="chart"
        id="rates"
        data-chart="rates"
        data-queue={props.queue ?? ""}
        data-points="0"
      >
      </div>
      <p class="muted small" id="live-status">connecting…</p>
    </section>
  );
}

export function Filter(props: { query: ListQuery; base: string }) {
  return (
    <form method="get" action={props.base} class="row filter">
      <input
        type="search"
        name="filter"
        value={props.query.filter}
        placeholder="filter by name"
        aria-label="filter by name"
      />
      <input type="hidden" name="sort" value={props.query.sort} />
      <input type="hidden" name="dir" value={props.query.dir} />
      <button type="submit">Filter</button>
    </form>
  );
}

export function SortHeader(
  props: { column: string; label: string; query: ListQuery; base: string; optional?: boolean },
) {
  const on = props.query.sort === props.column;
  const dir = on && props.query.dir === "asc" ? "desc" : "asc";
  const href = `${props.base}?${new URLSearchParams({
    filter: props.query.filter,
    sort: props.column,
    dir,
  })}`;
  return (
    <th class={`${props.column === "name" ? "" : "num"}${props.optional ? " opt" : ""}`}>
      <a href={href} class={on ? "sorted" : ""}>
        {props.label}
        {on ? (props.query.dir === "asc" ? " ▲" : " ▼") : ""}
      </a>
    </th>
  );
}

export function Pager(props: { query: ListQuery; pages: number; base: string }) {
  if (props.pages <= 1) return null;
  const page = Math.min(props.query.page, props.pages);
  const link = (p: number) =>
    `${props.base}?${new URLSearchParams({
      filter: props.query.filter,
      sort: props.query.sort,
      dir: props.query.dir,
      page: String(p),
    })}`;
  return (
    <nav class="pager">
      {page > 1 ? <a href={link(page - 1)}>← previous</a> : <span />}
      <span>page {page} of {props.pages}</span>
      {page < props.pages ? <a href={link(page + 1)}>next →</a> : <span />}
    </nav>
  );
}
