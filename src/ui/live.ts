/**
 * `/ui/live`: Server-Sent Events with this node's numbers once a second (as of its last applied
 * entry): the cluster summary, totals over the queues the viewer may see, and one queue's
 * stats when `?queue=` names it. The browser module turns counter deltas into rates.
 *
 * @module
 */

import type { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { QueueStats } from "../broker/mod.ts";
import type { UiDeps, UiEnv } from "./context.ts";
import type { Viewer } from "./session.ts";

/** Most queues one stream reports row by row (a list page shows 100). */
const ROWS_MAX = 200;

/** A stream ends after this long; EventSource reconnects on its own (bounds the loop). */
const STREAM_MAX_MS = 30 * 60_000;

/** One update. */
export interface LiveSample {
  readonly t: number;
  readonly nodeId: string;
  readonly leaderId: string;
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly members: readonly { id: string; role: string; matchIndex: number }[];
  /** Sums over every queue the viewer may see. */
  readonly totals: QueueStats & { readonly queues: number };
  readonly queue?: QueueStats;
  /** The stats of the queues a list page shows (`?queues=a,b`), by name. */
  readonly rows?: Readonly<Record<string, QueueStats>>;
}

/** The numbers of one update. */
export function liveSample(
  deps: UiDeps,
  viewer: Viewer,
  queue: string | undefined,
  rowNames: readonly string[] = [],
): LiveSample {
  const view = deps.node.clusterView();
  const broker = deps.node.broker();
  const totals = { ready: 0, leased: 0, delayed: 0, published: 0, acked: 0, deadLettered: 0 };
  let queues = 0;
  let bytes = 0;
  for (const q of broker.listQueues()) {
    if (!viewer.sees("queue", q.name)) continue;
    queues++;
    bytes += q.stats.bytes;
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += q.stats[k];
  }
  const one = queue !== undefined && viewer.sees("queue", queue) ? broker.queue(queue) : undefined;
  const rows: Record<string, QueueStats> = {};
  for (const name of rowNames) {
    const info = viewer.sees("queue", name) ? broker.queue(name) : undefined;
    if (info !== undefined) rows[name] = info.stats;
  }
  return {
    t: Date.now(),
    nodeId: view.nodeId,
    leaderId: view.leaderId,
    term: view.term,
    commitIndex: view.commitIndex,
    appliedIndex: view.appliedIndex,
    members: view.members.map((m) => ({ id: m.id, role: m.role, matchIndex: m.matchIndex })),
    totals: { ...totals, bytes, queues },
    ...(one ? { queue: one.stats } : {}),
    ...(rowNames.length > 0 ? { rows } : {}),
  };
}

export function liveRoutes(app: Hono<UiEnv>, deps: UiDeps): void {
  const interval = deps.liveIntervalMs ?? 1000;
  app.get("/live", (c) => {
    const viewer = c.get("viewer");
    const queue = c.req.query("queue") || undefined;
    const rowNames = (c.req.query("queues") ?? "").split(",").filter((q) => q !== "")
      .slice(0, ROWS_MAX);
    return streamSSE(c, async (stream) => {
      const rounds = Math.ceil(STREAM_MAX_MS / interval);
      for (let i = 0; i < rounds && !stream.aborted && !stream.closed; i++) {
        await stream.writeSSE({ data: JSON.stringify(liveSample(deps, viewer, queue, rowNames)) });
        await stream.sleep(interval);
      }
    });
  });
}
