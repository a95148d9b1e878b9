/**
 * `/v1/admin/faults`: the transport's link fault seam (drop, delay, cut per peer and direction),
 * mounted only when the node runs with `--test-faults`. The chaos suite drives partitions and
 * delays through it because this kernel has no `tc netem`. Needs `admin` on `*`.
 *
 * @module
 */

import { Hono } from "hono";
import { callOf } from "./call.ts";
import { z } from "zod";
import { type FaultControl, validateFaultSpec } from "../../cluster/transport/mod.ts";
import { readJsonBody, validate } from "./body.ts";
import type { AppDeps, AppEnv } from "./context.ts";
import { authorize } from "./authorize.ts";
import { query } from "./request.ts";
import { ProblemError } from "./problems.ts";
import { nameSchema } from "./schemas.ts";

/** A fault rule, as `cluster/transport/faults.ts` `FaultSpec`. */
export const faultSpecSchema = z.strictObject({
  peer: nameSchema,
  direction: z.enum(["out", "in", "both"]),
  dropProbability: z.number().min(0).max(1).optional(),
  delayMs: z.number().int().min(0).max(60_000).optional(),
  delayJitterMs: z.number().int().min(0).max(60_000).optional(),
  cut: z.boolean().optional(),
});

const clearQuery = z.strictObject({ peer: nameSchema.optional() });

/** The fault routes, to mount at `/v1/admin/faults`. */
export function faultRoutes(deps: AppDeps, faults: FaultControl): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get("/", (c) => {
    authorize(callOf(c), deps, "admin");
    return c.json({ faults: faults.list() });
  });

  app.put("/", async (c) => {
    authorize(callOf(c), deps, "admin");
    const body = await readJsonBody(c.req.raw, deps.limits.maxBodyBytes);
    const spec = validate(faultSpecSchema, body.json, "body");
    // The transport's own check too, so its rules and ours cannot drift into a 500.
    const checked = validateFaultSpec(spec);
    if (!checked.ok) {
      throw new ProblemError("invalid_request", checked.errors.join("; "), {
        errors: checked.errors.map((message) => ({ path: "body", message })),
      });
    }
    faults.set(checked.spec);
    deps.log.warn("fault_set", { ...spec });
    return c.json({ faults: faults.list() });
  });

  app.delete("/", (c) => {
    authorize(callOf(c), deps, "admin");
    const { peer } = query(c, clearQuery);
    faults.clear(peer);
    deps.log.warn("fault_cleared", { peer: peer ?? "*" });
    return c.json({ faults: faults.list() });
  });

  return app;
}
