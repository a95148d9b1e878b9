/**
 * What a connection's token may do per MQTT topic, with the auth file's patterns (`--auth-file`,
 * the HTTP API's tokens): PUBLISH to a topic name needs `publish` on `mqtt:<topic>`, SUBSCRIBE to
 * a filter needs `consume` on `mqtt:<filter>` (a shared subscription's filter without its
 * `$share/{group}/`); `publish`/`consume` on the quorumq topic `mqtt` allow every MQTT topic.
 *
 * @module
 */

import type { Permission, Principal } from "../http/mod.ts";
import { type ApiCaller, MQTT_TOPIC } from "./broker_api.ts";

export class MqttAccess {
  /** Auth off: everything is allowed, and API requests carry no principal. */
  static readonly OPEN = new MqttAccess(undefined);

  constructor(readonly principal: Principal | undefined) {}

  canPublish(topic: string): boolean {
    return this.#can("publish", topic);
  }

  canSubscribe(filter: string): boolean {
    return this.#can("consume", filter);
  }

  #can(permission: Permission, name: string): boolean {
    const p = this.principal;
    return p === undefined || p.can(permission, "topic", MQTT_TOPIC) ||
      p.can(permission, "mqtt", name);
  }

  /**
   * Whom the connection's API requests run as: its principal as `mqttApiPrincipal` widens it,
   * and its token, which a follower forwards to the leader with the gateway's proof.
   */
  apiCaller(authorization: string): ApiCaller | undefined {
    const p = this.principal;
    return p === undefined ? undefined : { principal: mqttApiPrincipal(p), authorization };
  }
}

/**
 * The principal the gateway's API requests run as: the token's, and `publish` and `consume` on
 * the quorumq topic `mqtt` when the token may do anything with MQTT topics. The gateway checks
 * each PUBLISH and SUBSCRIBE itself before it asks; the rest (the session's claim and
 * subscriptions, receiving what they hold) is its own doing, for any client it lets in. The
 * leader builds the same for a request a follower's gateway forwards (`gateway_auth.ts`).
 */
export function mqttApiPrincipal(p: Principal): Principal {
  const mqttUser = (["publish", "consume"] as const).some((perm) =>
    p.can(perm, "topic", MQTT_TOPIC) || p.covers(perm, "mqtt")
  );
  return {
    name: p.name,
    can: (permission, kind, name) =>
      p.can(permission, kind, name) ||
      (mqttUser && kind === "topic" && name === MQTT_TOPIC && permission !== "admin"),
    covers: (permission, kind) => p.covers(permission, kind),
  };
}
