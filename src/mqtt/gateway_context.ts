/**
 * What a node gives its MQTT gateway's connections: its API, its log, its limits, the
 * connections it holds by session, and what it reads of its replica's claims.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { Principal } from "../http/mod.ts";
import type { ApiFetch } from "./broker_api.ts";
import type { MqttConnection } from "./connection.ts";

/** What a node's gateway reads of its replica's claims (the MQTT topic's). */
export interface ClaimsView {
  /** Moves whenever a claim changes on this replica. */
  changes(): number;
  /** The keys changed since `changes()` was `since`; undefined: too many, look at all. */
  changedSince(since: number): string[] | undefined;
  /** A session key's holder (null: released) and stamp, undefined when there is no such claim. */
  claim(key: string): { readonly holder: string | null; readonly stamp: number } | undefined;
  /** The claims held by holders whose names start with `prefix`. */
  heldBy(prefix: string): { key: string; holder: string }[];
}

export interface GatewayContext {
  readonly fetch: ApiFetch;
  readonly log: Logger;
  readonly maxPacketBytes: number;
  /** The API's body limit (`--max-body-bytes`): what one batch publish's JSON stays within. */
  readonly maxBodyBytes: number;
  /**
   * The connections on this node by session key: one whose session another connection took is
   * closed.
   */
  readonly live: Map<string, Set<MqttConnection>>;
  /** `<node id>/<boot id>/`: every holder this node's connections take sessions as. */
  readonly holderPrefix: string;
  readonly claims: ClaimsView;
  /** Entry time on this node now (docs/broker.md): message expiry is counted in it. */
  readonly entryTimeMs: () => number;
  /** Auth on: the principal of an `Authorization` header value (undefined: refused). */
  readonly authenticate: ((header: string) => Promise<Principal | undefined>) | undefined;
  /**
   * Set when the node has no auth file and refuses anonymous writes (`src/server/access.ts`):
   * every CONNECT is refused (not authorized) with this reason, since no token can be checked.
   */
  readonly refuseAnonymous: string | undefined;
}
