/**
 * Request shapes of the session routes.
 *
 * @module
 */

import { z } from "zod";
import { apiRegistry, idempotencyKeySchema } from "./schemas.ts";

/** `POST /v1/sessions`: how long the session may stay idle (default 1 h, at most 24 h). */
export const sessionOpenSchema = z.strictObject({
  timeoutMs: z.number().int().min(1000).max(24 * 60 * 60 * 1000).optional(),
}).register(apiRegistry, { id: "SessionOpenRequest" });

export const sessionParams = z.strictObject({
  id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});

export const sessionOpenedSchema = z.strictObject({
  session: z.number().int(),
  timeoutMs: z.number().int(),
}).register(apiRegistry, { id: "SessionOpened" });

/** `DELETE /v1/idempotency-keys/{key}`. */
export const idempotencyKeyParams = z.strictObject({ key: idempotencyKeySchema });
