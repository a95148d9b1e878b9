/**
 * Auth on: who an MQTT gateway's request runs as when it reaches the app with the gateway's
 * proof (`src/http/gateway_proof.ts`), on the leader after a follower forwarded it, or in process
 * for the gateway's own requests. A connection's request carries its token: the token's principal
 * widened as the connection's gateway widened it (`mqttApiPrincipal`). The gateway's own request
 * (no token) is the release of a session its node's earlier run held (`releaseOrphans`), and only
 * that: any other request without a token is refused.
 *
 * @module
 */

import { type Authenticator, type GatewayAuth, GatewayProof, type Principal } from "../http/mod.ts";
import { mqttApiPrincipal } from "./access.ts";
import { MQTT_TOPIC } from "./broker_api.ts";

/** The one request the gateway makes as itself: releasing a session's claim. */
const RELEASE_PATH = new RegExp(`^/v1/topics/${MQTT_TOPIC}/claims/[A-Za-z0-9_.-]+/release$`);

/** The gateway itself: `consume` on the MQTT topic, which releasing a claim needs. */
const GATEWAY: Principal = {
  name: "mqtt-gateway",
  can: (permission, kind, name) =>
    permission === "consume" && kind === "topic" && name === MQTT_TOPIC,
  covers: () => false,
};

/** The app's `GatewayAuth` for MQTT, keyed with the cluster secret. */
export function mqttGatewayAuth(auth: Authenticator, secret: string): GatewayAuth {
  return {
    proof: new GatewayProof(secret),
    async principal(method, path, authorization) {
      if (authorization === undefined) {
        return method === "POST" && RELEASE_PATH.test(path) ? GATEWAY : undefined;
      }
      const p = await auth.authenticate(authorization);
      return p === undefined ? undefined : mqttApiPrincipal(p);
    },
  };
}
