/**
 * Operations endpoints: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.
 *
 * @module
 */

import { Hono } from "hono";
import { callOf } from "./call.ts";
import type { AppContext, AppDeps, AppEnv } from "./context.ts";
import { authorize } from "./authorize.ts";
import type { HttpMetrics } from "./metrics.ts";
import { openApiDocument } from "./openapi.ts";
import { ProblemError } from "./problems.ts";

/** The operations routes, mounted at `/`. */
export function opsRoutes(deps: AppDeps, metrics: HttpMetrics): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  // The process is up and serving HTTP; says nothing about the cluster.
  app.get("/healthz", (c) => c.json({ status: "ok", nodeId: deps.node.nodeId }));

  // Ready: a leader is known and this node has applied all it heard committed, so a stale read
  // here is as fresh as the node can be. Load balancers route on this. Under a steady write load
  // a follower's apply trails its commit by an entry or two at any moment, so the probe waits a
  // little (READY_APPLY_WAIT_MS) for the commit index it saw; a node restoring or replaying a
  // backlog stays behind past that and is not ready.
  app.get("/readyz", async (c) => {
    let view = deps.node.clusterView();
    if (view.leaderId === "") {
      throw new ProblemError("unavailable", "No leader is known", { nodeId: view.nodeId });
    }
    if (view.appliedIndex < view.commitIndex) {
      await appliedThrough(deps.node, view.commitIndex, READY_APPLY_WAIT_MS);
      const seen = view.commitIndex;
      view = deps.node.clusterView();
      if (view.appliedIndex < seen) {
        throw new ProblemError(
          "unavailable",
          `Applied index ${view.appliedIndex} is behind commit index ${view.commitIndex}`,
          { nodeId: view.nodeId },
        );
      }
    }
    // The leader's URL lets an edge gateway follow the leader (docs/edge.md).
    const leaderUrl = view.members.find((m) => m.id === view.leaderId)?.url;
    return c.json({
      status: "ready",
      nodeId: view.nodeId,
      leaderId: view.leaderId,
      ...(leaderUrl ? { leaderUrl } : {}),
      appliedIndex: view.appliedIndex,
    });
  });

  app.get("/metrics", (c) => {
    // --metrics-public: anyone; otherwise an admin token, or anyone in the open mode.
    if (!deps.metricsPublic) authorizeMetrics(c, deps);
    return c.body(metrics.render(deps.node), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    });
  });

  app.get("/openapi.json", (c) => c.json(openApiDocument()));

  return app;
}

/** How long `/readyz` waits for an apply in flight (well inside a probe's usual 1 s timeout). */
export const READY_APPLY_WAIT_MS = 250;

/** Resolves once `node` has applied through `index`, or after `ms` (bounded; unsubscribes). */
function appliedThrough(node: AppDeps["node"], index: number, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      off();
      resolve();
    };
    const timer = setTimeout(done, ms);
    const off = node.onApplied(() => {
      if (node.clusterView().appliedIndex >= index) done();
    });
  });
}

/** `/metrics` is an admin read; a refusal names `--metrics-public`. */
function authorizeMetrics(c: AppContext, deps: AppDeps): void {
  if (deps.auth === undefined && !deps.anonymous.open) {
    throw new ProblemError(
      "anonymous_refused",
      "/metrics is not public on this node: start it with --metrics-public to serve it " +
        "without a token (or give it --auth-file and send an admin token)",
    );
  }
  authorize(callOf(c), deps, "admin");
}
