/**
 * The dashboard's pages (GET): cluster, queues, topics, one queue, the login form and the
 * confirmation pages of destructive actions.
 *
 * @module
 */

import type { Hono } from "hono";
import { QuorumqError } from "../client/mod.ts";
import type { MessageStatus, PeekResult } from "../client/mod.ts";
import { clientFor, frameOf, type UiContext, type UiDeps, type UiEnv } from "./context.ts";
import { ConfirmPage, LoginPage, page } from "./layout.tsx";
import { ClusterPage } from "./page_cluster.tsx";
import { clusterData } from "./cluster_data.ts";
import { listQuery, QUEUE_SORTS, QueuesPage } from "./page_lists.tsx";
import { type SubscriptionRow, TOPIC_SORTS, TopicsPage } from "./page_topics.tsx";
import { QueuePage } from "./page_queue.tsx";
import { MqttPage, mqttSessions } from "./page_mqtt.tsx";
import { MQTT_TOPIC } from "../mqtt/mod.ts";

export function pageRoutes(app: Hono<UiEnv>, deps: UiDeps): void {
  app.get("/", (c) => c.redirect("/ui/cluster"));
  app.get("/login", (c) =>
    page(
      c,
      <LoginPage
        frame={frameOf(c, deps, "")}
        next={safeNext(c.req.query("next"))}
        failed={c.req.query("failed") === "1"}
      />,
    ));
  app.get("/cluster", async (c) => {
    const frame = frameOf(c, deps, "cluster");
    const data = {
      ...await clusterData(deps, c.get("viewer").token),
      // The event log is an admin read, like /v1/cluster.
      events: c.get("viewer").clusterAdmin ? deps.events.recent() : [],
    };
    return page(c, <ClusterPage frame={frame} data={data} />);
  });
  app.get("/queues", (c) => {
    const viewer = c.get("viewer");
    const queues = deps.node.broker().listQueues().filter((q) => viewer.sees("queue", q.name));
    const query = listQuery(new URL(c.req.url), QUEUE_SORTS);
    return page(c, <QueuesPage frame={frameOf(c, deps, "queues")} queues={queues} query={query} />);
  });
  app.get("/topics", (c) => {
    const viewer = c.get("viewer");
    const broker = deps.node.broker();
    const topics = broker.listTopics().filter((t) => viewer.sees("topic", t.name));
    const subs: SubscriptionRow[] = topics.flatMap((topic) =>
      topic.subscriptions.flatMap((s) => {
        const sub = broker.subscription(topic.name, s);
        return sub === undefined ? [] : [{ topic, sub }];
      })
    );
    const query = listQuery(new URL(c.req.url), TOPIC_SORTS);
    return page(
      c,
      <TopicsPage frame={frameOf(c, deps, "topics")} topics={topics} subs={subs} query={query} />,
    );
  });
  app.get("/mqtt", (c) => {
    const clientId = (c.req.query("client") ?? "").slice(0, 1024);
    const visible = c.get("viewer").sees("topic", MQTT_TOPIC);
    const rows = visible ? mqttSessions(deps.node.broker(), clientId || undefined) : [];
    return page(
      c,
      <MqttPage frame={frameOf(c, deps, "mqtt")} rows={rows} clientId={clientId} />,
    );
  });
  app.get("/queues/:q", (c) => queuePage(c, deps));
  confirmRoutes(app, deps);
}

async function queuePage(c: UiContext, deps: UiDeps): Promise<Response> {
  const name = c.req.param("q") ?? "";
  const viewer = c.get("viewer");
  const info = viewer.sees("queue", name) ? deps.node.broker().queue(name) : undefined;
  if (info === undefined) return c.redirect(`/ui/queues?error=${enc(`No queue ${name} here`)}`);
  const client = clientFor(deps, viewer);
  const fromSeq = Math.max(0, Number(c.req.query("fromSeq") ?? "0") || 0);
  let peek: PeekResult | undefined;
  if (viewer.can("consume", "queue", name)) peek = await client.peek(name, { fromSeq, limit: 50 });
  const id = c.req.query("id");
  let lookup: { id: string; status: MessageStatus | undefined } | undefined;
  if (id !== undefined && id !== "") {
    lookup = { id, status: await client.messageStatus(name, id).catch(notFoundAsUndefined) };
  }
  const data = { info, peek, fromSeq, ...(lookup ? { lookup } : {}) };
  return page(c, <QueuePage frame={frameOf(c, deps, "queues")} data={data} />);
}

function notFoundAsUndefined(e: unknown): undefined {
  if (e instanceof QuorumqError && e.type === "message_not_found") return undefined;
  throw e;
}

/** The "are you sure?" pages of purge, leadership transfer, member add and remove. */
function confirmRoutes(app: Hono<UiEnv>, deps: UiDeps): void {
  app.get("/queues/:q/purge", (c) => {
    const q = c.req.param("q");
    const ready = deps.node.broker().queue(q)?.stats;
    const count = ready === undefined ? 0 : ready.ready + ready.delayed;
    return page(
      c,
      <ConfirmPage
        frame={frameOf(c, deps, "queues")}
        title="Purge"
        question={`Drop all ${count} ready and delayed messages of queue ${q}? This cannot be undone.`}
        action={`/ui/queues/${enc(q)}/purge`}
        fields={{}}
        back={`/ui/queues/${enc(q)}`}
      />,
    );
  });
  app.get("/cluster/transfer", (c) => {
    const to = c.req.query("to") ?? "";
    return page(
      c,
      <ConfirmPage
        frame={frameOf(c, deps, "cluster")}
        title="Transfer leadership"
        question={`Hand leadership to ${to}? Writes pause for a moment while it takes over.`}
        action="/ui/cluster/transfer"
        fields={{ to }}
        back="/ui/cluster"
      />,
    );
  });
  app.get("/cluster/members/add", (c) => {
    const id = c.req.query("id") ?? "";
    const url = c.req.query("url") ?? "";
    return page(
      c,
      <ConfirmPage
        frame={frameOf(c, deps, "cluster")}
        title="Add member"
        question={`Add ${id} at ${url}? It must already run with --join.`}
        action="/ui/cluster/members"
        fields={{ id, url }}
        back="/ui/cluster"
      />,
    );
  });
  app.get("/cluster/members/:id/remove", (c) => {
    const id = c.req.param("id");
    return page(
      c,
      <ConfirmPage
        frame={frameOf(c, deps, "cluster")}
        title="Remove member"
        question={`Remove ${id} from the cluster? It stops voting and stops getting the log.`}
        action={`/ui/cluster/members/${enc(id)}/remove`}
        fields={{}}
        back="/ui/cluster"
      />,
    );
  });
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

/** A `next` path inside the dashboard only (no open redirect). */
export function safeNext(next: string | undefined): string {
  return next !== undefined && /^\/ui(\/[^/\\]|$|\?)/.test(next) ? next : "/ui/cluster";
}
