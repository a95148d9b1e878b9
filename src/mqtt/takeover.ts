/**
 * Session takeover across nodes and the sessions a killed node's connections held: what the
 * gateway of a node does with the claims of the MQTT topic in its replica (`session.ts`).
 *
 * @module
 */

import { BrokerApi, MQTT_TOPIC } from "./broker_api.ts";
import type { GatewayContext } from "./gateway_context.ts";
import { takenOver } from "./session.ts";

/** How often the claims are looked at even if no change was seen (a restored snapshot). */
const CLAIMS_SWEEP_MS = 5_000;
/** After start, when the sessions this node held before its restart are first released. */
export const ORPHAN_RELEASE_MS = 3_000;
/**
 * Then how often again: a restarted node's replica may not have caught up 3 s after start (a
 * long replay, a snapshot still coming), and a release may fail (no leader then); a claim of an
 * earlier run found later is released then. A holder of an earlier run never comes back, so a
 * late release is as safe as an early one.
 */
export const ORPHAN_SWEEP_MS = 30_000;

/**
 * Releases the sessions this node's earlier runs held (`releaseOrphans`), first after `firstMs`,
 * then every `everyMs` (one pass at a time). Returns what stops it.
 */
export function watchOrphans(
  ctx: GatewayContext,
  nodePrefix: string,
  timing = { firstMs: ORPHAN_RELEASE_MS, everyMs: ORPHAN_SWEEP_MS },
): () => void {
  let running = false;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pass = async () => {
    if (running || stopped) return;
    running = true;
    try {
      await releaseOrphans(ctx, nodePrefix, () => stopped);
    } finally {
      running = false;
      if (!stopped) timer = setTimeout(pass, timing.everyMs);
    }
  };
  timer = setTimeout(pass, timing.firstMs);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * Session takeover across nodes: when a claim changes on this replica, a connection here whose
 * session another connection now holds (on this node or any other) is closed (v5: 0x8E).
 */
export function watchTakeovers(
  ctx: GatewayContext,
  onApplied: (listener: () => void) => () => void,
): () => void {
  let seen = -1;
  const check = (key: string) => {
    const conns = ctx.live.get(key);
    if (conns === undefined) return;
    const claim = ctx.claims.claim(key);
    for (const conn of [...conns]) {
      const s = conn.session;
      if (s !== undefined && takenOver(claim, s)) conn.takeOver();
    }
  };
  // After an entry: only the claims changed since the last look (all of them when too many
  // changed, or the replica was replaced by a snapshot); the sweep looks at all now and then.
  const look = (all: boolean) => {
    const changes = ctx.claims.changes();
    if (!all && changes === seen) return;
    const changed = all || seen < 0 ? undefined : ctx.claims.changedSince(seen);
    seen = changes;
    for (const key of changed ?? [...ctx.live.keys()]) check(key);
  };
  const off = onApplied(() => look(false));
  const sweep = setInterval(() => look(true), CLAIMS_SWEEP_MS);
  return () => {
    off();
    clearInterval(sweep);
  };
}

/**
 * Sessions held by connections of this node's earlier run (it was killed: they never released
 * them) are released, so their expiry runs and their wills' sessions can end.
 */
export async function releaseOrphans(
  ctx: GatewayContext,
  nodePrefix: string,
  stopped: () => boolean = () => false,
): Promise<void> {
  // Auth on: as the gateway itself, which may release sessions' claims and nothing else
  // (gateway_auth.ts), on the leader as well: a follower forwards it with the gateway's proof.
  const api = new BrokerApi(
    ctx.fetch,
    ctx.authenticate === undefined ? undefined : { asGateway: true },
  );
  for (const { key, holder } of ctx.claims.heldBy(nodePrefix)) {
    if (stopped()) return;
    if (holder.startsWith(ctx.holderPrefix)) continue;
    const a = await api.write(
      "POST",
      `/v1/topics/${MQTT_TOPIC}/claims/${key}/release`,
      { holder },
    ).catch(() => undefined);
    ctx.log.info("mqtt_orphan_session_released", { key, status: a?.status });
  }
}
