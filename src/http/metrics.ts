/**
 * `/metrics`: Raft numbers from the node, per-queue and per-subscription counters from the local
 * broker replica, and request latency histograms by route.
 *
 * @module
 */

import type { QueueStats } from "../broker/mod.ts";
import type { NodePort } from "./node_port.ts";
import { Histogram, PromWriter } from "./prometheus.ts";

/** One route's latency histogram and its answers by status. */
interface RouteEntry {
  readonly method: string;
  readonly route: string;
  readonly h: Histogram;
  readonly statuses: Map<number, number>;
}

/** Request latency histograms keyed by method and route pattern (never the raw path). */
export class HttpMetrics {
  /**
   * By method, then route: two lookups by strings the caller holds already (its constants), not
   * one by a key built per request (~1 µs a request, measured in the leader's profile).
   */
  readonly #byMethod = new Map<string, Map<string, RouteEntry>>();
  /** Every entry, in the order first seen. */
  readonly #entries: RouteEntry[] = [];

  observe(method: string, route: string, status: number, seconds: number): void {
    let routes = this.#byMethod.get(method);
    if (routes === undefined) this.#byMethod.set(method, routes = new Map());
    let entry = routes.get(route);
    if (entry === undefined) {
      entry = { method, route, h: new Histogram(), statuses: new Map() };
      routes.set(route, entry);
      this.#entries.push(entry);
    }
    entry.h.observe(seconds);
    entry.statuses.set(status, (entry.statuses.get(status) ?? 0) + 1);
  }

  /** The whole exposition text. */
  render(node: NodePort): string {
    const w = new PromWriter();
    const m = node.metrics();
    const nodeLabel = { node: node.nodeId };
    w.gauge("quorumq_raft_term", "Current Raft term", m.term, nodeLabel);
    w.gauge("quorumq_raft_commit_index", "Highest log index known committed", m.commitIndex, {
      ...nodeLabel,
    });
    w.gauge("quorumq_raft_applied_index", "Highest log index applied here", m.appliedIndex, {
      ...nodeLabel,
    });
    w.counter("quorumq_raft_leader_changes_total", "Leader changes seen", m.leaderChanges, {
      ...nodeLabel,
    });
    w.counter("quorumq_raft_elections_total", "Elections started here", m.elections, nodeLabel);
    if (m.proposals !== undefined) {
      w.counter(
        "quorumq_proposals_total",
        "Broker proposals proposed here as leader",
        m.proposals.proposals,
        nodeLabel,
      );
      w.counter(
        "quorumq_proposal_entries_total",
        "Raft entries that carried them (one per batch)",
        m.proposals.entries,
        nodeLabel,
      );
    }
    if (m.fsyncSeconds !== undefined) {
      w.histogram("quorumq_storage_fsync_seconds", "Log fsync latency", m.fsyncSeconds, nodeLabel);
    }
    // Where a node's memory goes (the state machine's columns and slabs are `external`).
    const mem = Deno.memoryUsage();
    for (const [kind, bytes] of Object.entries(mem)) {
      w.gauge("quorumq_process_memory_bytes", "Process memory by kind", bytes, {
        ...nodeLabel,
        kind: snake(kind),
      });
    }
    this.#renderBroker(w, node);
    for (const { method, route, h } of this.#entries) {
      w.histogram(
        "quorumq_http_request_duration_seconds",
        "HTTP request latency by route",
        h.snapshot(),
        { method, route },
      );
    }
    for (const { method, route, statuses } of this.#entries) {
      for (const [status, count] of statuses) {
        w.counter("quorumq_http_requests_total", "HTTP requests by route and status", count, {
          method,
          route,
          status: String(status),
        });
      }
    }
    return w.text();
  }

  #renderBroker(w: PromWriter, node: NodePort): void {
    const broker = node.broker();
    const series = [
      ["ready", "gauge", "Messages ready for delivery"],
      ["leased", "gauge", "Messages leased to a consumer"],
      ["delayed", "gauge", "Messages waiting for their delay"],
      ["published", "counter", "Messages published"],
      ["delivered", "counter", "Messages handed out by receive, every attempt"],
      ["acked", "counter", "Messages acknowledged"],
      ["deadLettered", "counter", "Messages dead-lettered or dropped after max deliveries/TTL"],
    ] as const;
    const rows: { labels: Record<string, string>; stats: QueueStats }[] = [];
    for (const q of broker.listQueues()) rows.push({ labels: { queue: q.name }, stats: q.stats });
    for (const t of broker.listTopics()) {
      for (const s of t.subscriptions) {
        const info = broker.subscription(t.name, s);
        if (info !== undefined) {
          rows.push({ labels: { topic: t.name, subscription: s }, stats: info.stats });
        }
      }
    }
    const eo = broker.exactlyOnceStats?.();
    if (eo !== undefined) {
      w.gauge("quorumq_sessions_open", "Client sessions open", eo.sessions);
      w.gauge("quorumq_sessions_max", "Most client sessions open at once", eo.sessionsMax);
      w.gauge("quorumq_idempotency_keys", "Idempotency-Keys held", eo.keys);
      w.gauge("quorumq_idempotency_keys_max", "Most Idempotency-Keys held", eo.keysMax);
      w.gauge("quorumq_exactly_once_bytes", "Bytes of sessions and keys (estimate)", eo.bytes);
      w.gauge("quorumq_exactly_once_bytes_max", "Bound of quorumq_exactly_once_bytes", eo.bytesMax);
    }
    for (const [field, type, help] of series) {
      const name = `quorumq_messages_${snake(field)}${type === "counter" ? "_total" : ""}`;
      for (const row of rows) {
        if (type === "counter") w.counter(name, help, row.stats[field], row.labels);
        else w.gauge(name, help, row.stats[field], row.labels);
      }
    }
  }
}

function snake(camel: string): string {
  return camel.replace(/[A-Z]/g, (ch) => "_" + ch.toLowerCase());
}
