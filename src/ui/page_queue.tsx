/**
 * A queue's page: live stats and rates, look a message up by id, publish a test message, peek
 * at stored messages without leasing them, redrive dead-lettered ones (selected or all) to
 * their origin, and purge (after a confirmation). Admin actions show only to admins.
 *
 * @module
 */

import type { QueueInfo } from "../broker/mod.ts";
import type { MessageStatus, PeekResult } from "../client/mod.ts";
import { bytes, Csrf, Layout, n, type PageFrame } from "./layout.tsx";
import { RateChart } from "./page_lists.tsx";

/** The header a dead-letter move adds: which queue a message came from. */
const ORIGIN_HEADER = "x-quorumq-origin";

export interface QueuePageData {
  readonly info: QueueInfo;
  /** Undefined when the viewer may not consume (peek shows bodies). */
  readonly peek: PeekResult | undefined;
  readonly fromSeq: number;
  /** The lookup by id asked for, and what it found (undefined: not remembered). */
  readonly lookup?: { readonly id: string; readonly status: MessageStatus | undefined };
}

export function QueuePage(props: { frame: PageFrame; data: QueuePageData }) {
  const { frame, data } = props;
  const q = data.info;
  const base = `/ui/queues/${encodeURIComponent(q.name)}`;
  const admin = frame.viewer.can("admin", "queue", q.name);
  return (
    <Layout frame={frame} title={`Queue ${q.name}`}>
      <h1 class="title">
        <span>
          Queue <span id="queue-name">{q.name}</span>
        </span>
        {admin ? <a class="button danger small" id="purge" href={`${base}/purge`}>Purge…</a> : null}
      </h1>
      <section class="summary" data-live="queue" data-queue={q.name}>
        {([
          "ready",
          "leased",
          "delayed",
          "deadLettered",
          "published",
          "delivered",
          "acked",
        ] as const).map((
          k,
        ) => (
          <div class="stat">
            <span class="label">{k === "deadLettered" ? "dead-lettered" : k}</span>
            <span class="value" id={`stat-${k}`}>{n(q.stats[k])}</span>
          </div>
        ))}
        <div class="stat">
          <span class="label">bytes</span>
          <span class="value" id="stat-bytes">{bytes(q.stats.bytes)}</span>
        </div>
      </section>
      <p class="muted small config">
        {q.config.deliveryMode} · lease {n(q.config.leaseMs)} ms
        {q.config.maxDeliveries ? ` · max deliveries ${q.config.maxDeliveries}` : ""}
        {q.config.deadLetterQueue ? ` · dead letters → ${q.config.deadLetterQueue}` : ""}
        {q.config.fifo ? " · fifo" : ""}
      </p>
      <RateChart title="Messages per second" queue={q.name} />
      <div class="two">
        <Lookup base={base} lookup={data.lookup} />
        {frame.viewer.can("publish", "queue", q.name)
          ? <PublishForm base={base} frame={frame} />
          : null}
      </div>
      {data.peek === undefined
        ? <p class="card muted">Peeking needs the consume permission on this queue.</p>
        : <Messages frame={frame} data={data} peek={data.peek} base={base} admin={admin} />}
    </Layout>
  );
}

function Lookup(props: { base: string; lookup: QueuePageData["lookup"] }) {
  const found = props.lookup?.status;
  return (
    <section class="card">
      <h2>Look up a message</h2>
      <form method="get" action={props.base} class="row">
        <input name="id" placeholder="message id" value={props.lookup?.id ?? ""} required />
        <button type="submit">Look up</button>
      </form>
      {props.lookup === undefined ? null : found === undefined
        ? (
          <p class="muted" id="lookup">
            Not remembered (never published, or past its dedup window).
          </p>
        )
        : (
          <p id="lookup">
            <b>{found.id}</b>: seq {found.seq},{" "}
            <span class={`state state-${found.state}`}>
              {found.state}
            </span>, attempt {found.attempt}
          </p>
        )}
    </section>
  );
}

function PublishForm(props: { base: string; frame: PageFrame }) {
  return (
    <section class="card">
      <h2>Publish a test message</h2>
      <form method="post" action={`${props.base}/publish`} class="stack" id="publish">
        <Csrf viewer={props.frame.viewer} />
        <textarea name="body" rows={2} placeholder='{"hello": "world"}' required></textarea>
        <div class="row">
          <input name="id" placeholder="id (optional)" />
          <button type="submit">Publish</button>
        </div>
      </form>
    </section>
  );
}

function Messages(
  props: { frame: PageFrame; data: QueuePageData; peek: PeekResult; base: string; admin: boolean },
) {
  const { peek, base } = props;
  const dead = peek.messages.some((m) => m.headers[ORIGIN_HEADER] !== undefined);
  const redrive = props.admin && dead;
  return (
    <section class="card">
      <h2>
        Messages <span class="muted small">peeked, not leased · from seq {props.data.fromSeq}</span>
      </h2>
      <form method="post" action={`${base}/redrive`} id="redrive">
        <Csrf viewer={props.frame.viewer} />
        {redrive
          ? (
            <div class="row">
              <button type="submit" name="mode" value="selected" id="redrive-selected">
                Redrive selected
              </button>
              <button type="submit" name="mode" value="all" id="redrive-all">Redrive all</button>
              <span class="muted small">back to the queue each message came from</span>
            </div>
          )
          : null}
        <div class="scroll">
          <table id="messages" class="list">
            <thead>
              <tr>
                {redrive ? <th></th> : null}
                <th class="num">Seq</th>
                <th>Id</th>
                <th>State</th>
                <th class="num opt">Attempt</th>
                {dead ? <th class="opt">From</th> : null}
                <th>Body</th>
              </tr>
            </thead>
            <tbody>
              {peek.messages.map((m) => (
                <tr data-seq={m.seq}>
                  {redrive
                    ? (
                      <td>
                        <input
                          type="checkbox"
                          name="seq"
                          value={m.seq}
                          aria-label={`seq ${m.seq}`}
                        />
                      </td>
                    )
                    : null}
                  <td class="num">{m.seq}</td>
                  <td class="id">{m.id}</td>
                  <td>
                    <span class={`state state-${m.state}`}>{m.state}</span>
                  </td>
                  <td class="num opt">{m.attempt}</td>
                  {dead ? <td class="opt">{m.headers[ORIGIN_HEADER] ?? ""}</td> : null}
                  <td class="body">
                    <code>{JSON.stringify(m.body)}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </form>
      {peek.messages.length === 0 ? <p class="muted" id="empty">No stored messages here.</p> : null}
      <nav class="pager">
        {props.data.fromSeq > 0 ? <a href={base}>← first</a> : <span />}
        {peek.messages.length > 0
          ? <a href={`${base}?fromSeq=${peek.nextSeq}`}>next →</a>
          : <span />}
      </nav>
    </section>
  );
}
