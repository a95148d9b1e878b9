/**
 * Constants of the client stream's protocol (`/v1/stream`, docs/stream.md) that the node's
 * frames (`stream_frames.ts`) and the edge gateway (`src/edge/`) both need. A leaf module: it
 * imports nothing, so the gateway, which may not import the node's msgpackr-based frames (the
 * tidy rule `edgePortable`), shares one definition with the node.
 *
 * @module
 */

/** The one version the stream speaks (byte 0 of every frame). */
export const STREAM_VERSION = 1;

/** Most frames in one batch (a msgpack array of frames). */
export const BATCH_FRAMES_MAX = 4096;

/**
 * Answer headers a `res` frame carries: the ones the HTTP API defines, and `content-type` and
 * `www-authenticate`, so that an edge gateway answers its caller exactly what the node did.
 */
export const ANSWER_HEADERS: readonly string[] = [
  "retry-after",
  "idempotent-replayed",
  "location",
  "allow",
  "content-type",
  "www-authenticate",
];

/**
 * The operations paths a `req` frame may name besides `/v1/...`: an edge gateway relays them
 * (and answers any other path outside the API 404 itself).
 */
export const OPS_PATHS: ReadonlySet<string> = new Set([
  "/healthz",
  "/readyz",
  "/metrics",
  "/openapi.json",
]);
