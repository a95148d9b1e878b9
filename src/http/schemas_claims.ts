/**
 * Request and answer shapes of the retained-message and claim routes of a topic.
 *
 * @module
 */

import { z } from "zod";
import { DURATION_MS_MAX } from "../broker/mod.ts";
import { apiRegistry, nameSchema, patternSchema } from "./schemas.ts";

export const claimParams = z.strictObject({ t: nameSchema, key: nameSchema });

/** `GET /v1/topics/{t}/retained`. */
export const retainedQuery = z.strictObject({
  subject: patternSchema.optional(),
  consistency: z.enum(["linearizable", "stale"]).default("linearizable"),
});

const holderSchema = z.string().min(1).max(256);

/** `PUT /v1/topics/{t}/claims/{key}`. */
export const claimTakeSchema = z.strictObject({
  holder: holderSchema,
  fresh: z.boolean().optional(),
  subscriptions: z.array(nameSchema).max(8).optional(),
  expireMs: z.number().int().min(0).max(DURATION_MS_MAX).optional(),
  data: z.string().max(16_384).optional(),
  /**
   * Only an update of a claim `holder` holds now: else refused `session_moved`, nothing changed
   * (a late retry of an ended connection must not take the session back).
   */
  ifHeld: z.boolean().optional(),
}).register(apiRegistry, { id: "ClaimTakeRequest" });

export const claimTakenSchema = z.strictObject({
  previous: z.string().nullable(),
  present: z.boolean(),
  data: z.string().nullable(),
  stamp: z.number().int(),
  pubrels: z.array(z.number().int()),
}).register(apiRegistry, { id: "ClaimTaken" });

/** `POST /v1/topics/{t}/claims/{key}/release`. */
export const claimReleaseSchema = z.strictObject({
  holder: holderSchema,
  expireMs: z.number().int().min(0).max(DURATION_MS_MAX).optional(),
}).register(apiRegistry, { id: "ClaimReleaseRequest" });

export const claimReleasedSchema = z.strictObject({ released: z.boolean() })
  .register(apiRegistry, { id: "ClaimReleased" });

/** `POST /v1/topics/{t}/claims/{key}/free`. */
const slotsSchema = z.array(z.number().int().min(1).max(65535)).max(1000);

export const claimFreeSchema = z.strictObject({
  slots: slotsSchema,
  pubrels: slotsSchema.optional(),
  /** Refused `session_moved` (nothing freed) unless it holds the claim now. */
  holder: holderSchema.optional(),
}).register(apiRegistry, { id: "ClaimFreeRequest" });

export const claimFreedSchema = z.strictObject({ freed: z.number().int() })
  .register(apiRegistry, { id: "ClaimFreed" });

/** `POST /v1/topics/{t}/claims/{key}/settle`. */
export const claimSettleSchema = z.strictObject({
  subscription: nameSchema,
  receipts: z.array(z.string().min(1).max(256)).max(1000),
  hold: slotsSchema,
  /** Refused `session_moved` (nothing settled) unless it holds the claim now. */
  holder: holderSchema.optional(),
}).register(apiRegistry, { id: "ClaimSettleRequest" });

export const claimSettledSchema = z.strictObject({
  results: z.array(z.strictObject({ receipt: z.string(), status: z.string() })),
  kept: z.boolean(),
}).register(apiRegistry, { id: "ClaimSettled" });
