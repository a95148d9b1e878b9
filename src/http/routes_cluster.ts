/**
 * `/v1/cluster`: the cluster view, membership changes and leadership transfer. Changes are
 * leader operations: a follower forwards them like writes. All need `admin` on `*`.
 *
 * @module
 */

import { Hono } from "hono";
import { callOf } from "./call.ts";
import { readJsonBody, validate } from "./body.ts";
import type { AppContext, AppDeps, AppEnv } from "./context.ts";
import { authorize } from "./authorize.ts";
import { forwardNotLeader, type WriteRequest } from "./write.ts";
import { noQuery, params, query } from "./request.ts";
import { readBarrier } from "./read.ts";
import type { AdminOutcome, ClusterView } from "./node_port.ts";
import { ProblemError } from "./problems.ts";
import {
  consistencyQuery,
  leadershipTransferSchema,
  memberAddSchema,
  memberParams,
} from "./schemas.ts";

/** The cluster view as JSON: `leaderId` null when none is known. */
export function clusterJson(view: ClusterView): Record<string, unknown> {
  return {
    nodeId: view.nodeId,
    leaderId: view.leaderId === "" ? null : view.leaderId,
    term: view.term,
    commitIndex: view.commitIndex,
    appliedIndex: view.appliedIndex,
    members: view.members.map((m) => ({
      id: m.id,
      url: m.url,
      role: m.role,
      matchIndex: m.matchIndex,
      lastContactMs: m.lastContactMs ?? null,
    })),
  };
}

/** The cluster routes, to mount at `/v1/cluster`. */
export function clusterRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const limit = deps.limits.maxBodyBytes;

  app.get("/", async (c) => {
    authorize(callOf(c), deps, "admin");
    const { consistency } = query(c, consistencyQuery);
    await readBarrier(deps, consistency);
    return c.json(clusterJson(deps.node.clusterView()));
  });

  app.post("/members", async (c) => {
    authorize(callOf(c), deps, "admin");
    const body = await readJsonBody(c.req.raw, limit);
    const { id, url } = validate(memberAddSchema, body.json, "body");
    return await admin(c, deps, body, () => deps.node.addMember(id, url), 200);
  });

  app.delete("/members/:id", async (c) => {
    authorize(callOf(c), deps, "admin");
    const { id } = params(c, memberParams);
    const body = await readJsonBody(c.req.raw, limit);
    if (!deps.node.clusterView().members.some((m) => m.id === id)) {
      throw new ProblemError("member_not_found", `Node ${id} is not a member`);
    }
    return await admin(c, deps, body, () => deps.node.removeMember(id), 200);
  });

  app.post("/leadership-transfer", async (c) => {
    authorize(callOf(c), deps, "admin");
    const body = await readJsonBody(c.req.raw, limit);
    const { to, wait } = validate(leadershipTransferSchema, body.json ?? {}, "body");
    const run = () => deps.node.transferLeadership(to, wait === true);
    // 202: started; with wait, 200 once another node leads (the view names it).
    return await admin(c, deps, body, run, wait === true ? 200 : 202);
  });

  return app;
}

/** Runs a leader operation; answers the cluster view on success. */
async function admin(
  c: AppContext,
  deps: AppDeps,
  body: WriteRequest,
  run: () => Promise<AdminOutcome>,
  okStatus: 200 | 202,
): Promise<Response> {
  noQuery(callOf(c));
  const outcome = await run();
  if (outcome.ok) return c.json(clusterJson(deps.node.clusterView()), okStatus);
  switch (outcome.reason) {
    case "not_leader":
      return await forwardNotLeader(callOf(c), deps, outcome, body);
    case "no_leader":
      throw new ProblemError("no_leader", "No leader is known; retry after Retry-After seconds");
    case "unknown_outcome":
      throw new ProblemError(
        "unknown_outcome",
        "The change was proposed but its outcome is unknown; check GET /v1/cluster",
      );
    case "rejected":
      throw new ProblemError("conflict", outcome.detail);
  }
}
