/**
 * The HTTP front end of a node: `createApp` (HTTP API v1 on Hono), the `NodePort` the node
 * driver implements, the problem registry, and auth loading.
 *
 * ```ts
 * const app = createApp({ node, log, limits: { maxBodyBytes: config.maxBodyBytes }, auth });
 * Deno.serve({ hostname, port }, app.fetch);
 * ```
 *
 * @module
 */

export { createApp, type CreateAppOptions, type NodeApp } from "./app.ts";
export { answerTextOf, inProcessRequest } from "./in_process.ts";
export { JSON_BODY_BYTES } from "./batch_bodies.ts";
export type { Answer } from "./answer.ts";
export { GATEWAY_PROOF_HEADER, type GatewayAuth, GatewayProof } from "./gateway_proof.ts";
export { type Authenticator, loadAuthenticator, type Permission, type Principal } from "./auth.ts";
export { type AnonymousAccess, OPEN_ACCESS } from "./authorize.ts";
export { DEFAULT_LIMITS, type HttpLimits } from "./context.ts";
export { Drain, SHUTTING_DOWN } from "./drain.ts";
export {
  type ForwardedRequest,
  ForwardNotSentError,
  forwardToLeader,
  HOP_HEADER,
  type LeaderAnswer,
  type LeaderFetch,
  requestLeaderFetch,
} from "./forward.ts";
export type * from "./node_port.ts";
export {
  BROKER_REASON_PROBLEMS,
  type ProblemBody,
  ProblemError,
  problemResponse,
  PROBLEMS,
  type ProblemType,
} from "./problems.ts";
export { Histogram, type HistogramSnapshot, LATENCY_BUCKETS_S } from "./prometheus.ts";
export { openApiDocument } from "./openapi.ts";
export { decodeStreamMessage, encodeStreamFrame, STREAM_VERSION } from "./stream_frames.ts";
export { INTAKE_SLICE_FRAMES } from "./stream_intake.ts";
