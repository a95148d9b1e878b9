/**
 * The edge gateway (docs/edge.md): quorumq's HTTP API on an edge runtime, in front of the
 * cluster, over one stream per gateway instance. Portable: the entries of each runtime
 * (`src/edge_targets/`) give it a dialer and a WebSocket upgrade.
 *
 * @module
 */

export {
  createGateway,
  type Gateway,
  type GatewayOptions,
  STALE_CACHE_MS_DEFAULT,
} from "./gateway.ts";
export {
  type CallPort,
  NoUpstream,
  type StreamAnswer,
  Upstream,
  type UpstreamOptions,
} from "./upstream.ts";
export type { AcceptedSocket, AcceptSocket } from "./relay.ts";
export { type EdgeSettings, edgeSettings } from "./settings.ts";
export { CACHE_HEADER, StaleCache, type StaleCacheOptions } from "./stale_cache.ts";
