/**
 * An MQTT session's claim: the replicated record of which connection holds a client id's session
 * now (`/v1/topics/mqtt/claims/{key}`). A CONNECT takes it (a clean start drops the old session
 * in the same entry); every node sees the new holder when it applies the take and closes the old
 * connection if it has it (the gateway's watch). The claim owns the session's two subscriptions:
 * when the connection ends it is released, and the broker ends it with them after the session
 * expiry (at once for 0; never for a v3.1.1 persistent session). It also keeps the session's
 * shared-subscription memberships, so a reconnect to any node joins them again, and its filters'
 * v5 options (No Local, Retain As Published), which its subscriptions' patterns cannot hold.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { type ApiAnswer, type BrokerApi, MQTT_TOPIC } from "./broker_api.ts";

/** The longest session expiry kept (ms): the API's longest duration (30 days). */
export const SESSION_EXPIRY_MS_MAX = 30 * 24 * 3600 * 1000;

/**
 * Whose a session is: a client id, within the principal of the CONNECT's token when auth is on.
 * Each token has its own client ids: the same id under another token is another session, which
 * neither resumes nor takes over this one (docs/mqtt.md, Sessions). With auth off, the client id
 * alone.
 */
export interface SessionOwner {
  readonly clientId: string;
  /** The token's principal (its name in the auth file); undefined with auth off. */
  readonly principal: string | undefined;
}

/** The hash that names a session's claim and subscriptions (neither id is stored as such). */
export function sessionHash(owner: SessionOwner): string {
  const input = owner.principal === undefined
    ? owner.clientId
    : JSON.stringify([owner.principal, owner.clientId]);
  return createHash("sha256").update(input).digest("hex").slice(0, 40);
}

/** The claim key of a session. */
export function sessionKey(owner: SessionOwner): string {
  return `mqtt-${sessionHash(owner)}`;
}

/** A shared-subscription membership kept with the session: `$share/g/f` and its QoS. */
export type SharedMembership = [string, 0 | 1];

/** The filters with MQTT 5 No Local (`nl`) and Retain As Published (`rap`) kept with a session. */
export interface KeptOptions {
  readonly nl: readonly string[];
  readonly rap: readonly string[];
}

/** What a persistent session keeps in its claim's data (JSON, at most 16 KB by the broker). */
export interface SessionData {
  readonly shared: SharedMembership[];
  readonly options: KeptOptions;
}

export interface Taken {
  /** The session was there before (and kept: not a clean start). */
  readonly present: boolean;
  /** Its shared-subscription memberships. */
  readonly shared: SharedMembership[];
  /** Its filters' v5 options. */
  readonly options: KeptOptions;
  /** QoS 2 packet ids the session owes a PUBREL for (PUBREC came, PUBCOMP did not). */
  readonly pubrels: number[];
}

export class SessionClaim {
  readonly key: string;
  /**
   * The stamp of this connection's take: a view of the claim with a larger one has seen a later
   * take (a node that shows a smaller one has not applied this take yet).
   */
  stamp = Infinity;
  readonly #path: string;

  constructor(
    readonly api: BrokerApi,
    owner: SessionOwner,
    /** This connection: `<node>/<boot>/<uuid>`. */
    readonly holder: string,
  ) {
    this.key = sessionKey(owner);
    this.#path = `/v1/topics/${MQTT_TOPIC}/claims/${this.key}`;
  }

  /** Takes the session for this connection; `expireMs` undefined: kept for good. */
  async take(
    opts: { fresh: boolean; subscriptions: string[]; expireMs: number | undefined },
  ): Promise<Taken | ApiAnswer> {
    const body = {
      holder: this.holder,
      fresh: opts.fresh,
      subscriptions: opts.subscriptions,
      ...(opts.expireMs === undefined ? {} : { expireMs: opts.expireMs }),
    };
    const a = await this.api.write("PUT", this.#path, body);
    if (a.status !== 200) return a;
    this.stamp = a.body.stamp;
    return {
      present: a.body.present === true,
      ...parseData(a.body.data),
      pubrels: Array.isArray(a.body.pubrels) ? a.body.pubrels : [],
    };
  }

  /**
   * Keeps the shared-subscription memberships and the filters' v5 options with the session (taken
   * again by its holder, `ifHeld`: a late retry after another connection took the session over,
   * or after this one released it, is refused `session_moved` and takes nothing back); false when
   * the options did not fit the broker's bound on the data (16 KB) and were left out: the
   * memberships, kept before options were, are never pushed out.
   */
  async saveData(d: SessionData): Promise<boolean> {
    const { nl, rap } = d.options;
    const full = { shared: d.shared, ...(nl.length > 0 && { nl }), ...(rap.length > 0 && { rap }) };
    for (const data of full.nl || full.rap ? [full, { shared: d.shared }] : [full]) {
      const a = await this.api.write("PUT", this.#path, {
        holder: this.holder,
        data: JSON.stringify(data),
        ifHeld: true,
      });
      // A take of this connection's own: its stamp is this connection's, not a reconnect's.
      if (a.status === 200 && typeof a.body?.stamp === "number") this.stamp = a.body.stamp;
      if (a.status !== 400) return data === full;
    }
    return false;
  }

  /** The connection ended: the session waits `expireMs` (undefined: as taken) for its client. */
  async release(expireMs: number | undefined): Promise<void> {
    await this.api.write("POST", `${this.#path}/release`, {
      holder: this.holder,
      ...(expireMs === undefined ? {} : { expireMs }),
    });
  }
}

function parseData(data: unknown): SessionData {
  const none = { shared: [], options: { nl: [], rap: [] } };
  if (typeof data !== "string") return none;
  try {
    const v = JSON.parse(data);
    const strings = (a: unknown) => Array.isArray(a) ? a.filter((f) => typeof f === "string") : [];
    return {
      shared: Array.isArray(v?.shared)
        ? v.shared.filter((m: unknown) =>
          Array.isArray(m) && typeof m[0] === "string" && (m[1] === 0 || m[1] === 1)
        )
        : [],
      options: { nl: strings(v?.nl), rap: strings(v?.rap) },
    };
  } catch {
    return none;
  }
}

/** The session expiry (ms) of a CONNECT: v5's interval (0xFFFFFFFF: never), v3.1.1's clean. */
export function sessionExpiryMs(
  v5: boolean,
  clean: boolean,
  intervalS: number | undefined,
): number | undefined {
  if (!v5) return clean ? 0 : undefined;
  const s = intervalS ?? 0;
  if (s === 0xffffffff) return undefined;
  return Math.min(s * 1000, SESSION_EXPIRY_MS_MAX);
}

/**
 * Whether this node's view of a claim shows that another connection took the session from
 * `mine`: only a take later than its own counts. A node that has not applied `mine`'s take yet
 * (its answer came from the leader) still shows an older holder, or none: no takeover.
 */
export function takenOver(
  view: { readonly holder: string | null; readonly stamp: number } | undefined,
  mine: { readonly holder: string; readonly stamp: number },
): boolean {
  return view !== undefined && view.stamp > mine.stamp && view.holder !== mine.holder;
}
