/**
 * The frame every dashboard page shares: head (styles and the live module, all served by this
 * node: nothing from the internet), the navigation, who is logged in, and a notice line.
 *
 * @module
 */

import type { Context } from "hono";
import { html } from "hono/html";
import type { Child } from "hono/jsx";
import type { Viewer } from "./session.ts";

/** What every page gets besides its own data. */
export interface PageFrame {
  readonly nodeId: string;
  readonly viewer: Viewer;
  readonly authOn: boolean;
  /** `cluster`, `queues`, `topics` or `mqtt`: the highlighted tab. */
  readonly tab: string;
  /** A result line from the last action (`?done=`), or an error (`?error=`). */
  readonly done?: string;
  readonly error?: string;
}

export function Layout(props: { frame: PageFrame; title: string; children: Child }) {
  const { frame } = props;
  const tabs = [["cluster", "Cluster"], ["queues", "Queues"], ["topics", "Topics"], [
    "mqtt",
    "MQTT",
  ]];
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title} · quorumq {frame.nodeId}</title>
        <link rel="stylesheet" href="/ui/static/ui.css" />
        <link rel="stylesheet" href="/ui/static/uPlot.min.css" />
        <script type="module" src="/ui/static/live.js"></script>
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/ui/cluster">quorumq</a>
          <nav>
            {tabs.map(([id, label]) => (
              <a href={`/ui/${id}`} class={frame.tab === id ? "on" : ""}>{label}</a>
            ))}
          </nav>
          <span class="who">
            node <b id="node-id">{frame.nodeId}</b>
            {frame.authOn && frame.viewer.name !== undefined
              ? (
                <form method="post" action="/ui/logout" class="inline">
                  <input type="hidden" name="_csrf" value={frame.viewer.csrf} />
                  <span>{frame.viewer.name}</span>{" "}
                  <button type="submit" class="link">log out</button>
                </form>
              )
              : null}
          </span>
        </header>
        <main>
          {frame.done ? <p class="notice ok" role="status">{frame.done}</p> : null}
          {frame.error ? <p class="notice err" role="alert">{frame.error}</p> : null}
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** Answers a page: HTML5 (the doctype keeps browsers out of quirks mode). */
export function page(c: Context, body: Child): Response | Promise<Response> {
  return c.html(html`<!DOCTYPE html>${body}`);
}

/** A hidden CSRF field: every state-changing form has one. */
export function Csrf(props: { viewer: Viewer }) {
  return <input type="hidden" name="_csrf" value={props.viewer.csrf} />;
}

/** A number with thousands separators; `-` for none. */
export function n(v: number | undefined | null): string {
  return v === undefined || v === null ? "-" : v.toLocaleString("en-US");
}

/** Bytes as B, KiB, MiB. */
export function bytes(v: number): string {
  if (v < 1024) return `${v} B`;
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(1)} KiB`;
  return `${(v / 1024 / 1024).toFixed(1)} MiB`;
}

/** The login page (auth on, no valid token yet). */
export function LoginPage(props: { frame: PageFrame; next: string; failed: boolean }) {
  return (
    <Layout frame={props.frame} title="Log in">
      <section class="card narrow">
        <h1>Log in</h1>
        <p>This node has auth on: give a bearer token from its auth file.</p>
        {props.failed ? <p class="notice err">That token is not valid.</p> : null}
        <form method="post" action="/ui/login" class="stack">
          <Csrf viewer={props.frame.viewer} />
          <input type="hidden" name="next" value={props.next} />
          <label>
            Token <input type="password" name="token" autocomplete="off" required />
          </label>
          <button type="submit">Log in</button>
        </form>
      </section>
    </Layout>
  );
}

/** A page that asks "are you sure?" before a destructive action, as a form of its own. */
export function ConfirmPage(
  props: {
    frame: PageFrame;
    title: string;
    question: string;
    action: string;
    fields: Record<string, string>;
    back: string;
  },
) {
  return (
    <Layout frame={props.frame} title={props.title}>
      <section class="card narrow">
        <h1>{props.title}</h1>
        <p>{props.question}</p>
        <form method="post" action={props.action} class="row">
          <Csrf viewer={props.frame.viewer} />
          <input type="hidden" name="confirm" value="yes" />
          {Object.entries(props.fields).map(([k, v]) => (
            <input key={k} type="hidden" name={k} value={v} />
          ))}
          <button type="submit" class="danger" id="confirm">{props.title}</button>
          <a class="button" href={props.back}>Cancel</a>
        </form>
      </section>
    </Layout>
  );
}
