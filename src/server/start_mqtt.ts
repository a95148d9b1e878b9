/**
 * A node's MQTT gateway (`--mqtt-listen`, `--mqtt-tls-listen`, docs/mqtt.md), wired by `startNode`:
 * it speaks to this node's own API in process, so forwarding, auth and validation are the API's.
 * With TLS, the gateway listens on a private Unix socket behind a TLS front (tls_front.ts).
 *
 * @module
 */

import type { NodeDriver } from "../../cluster/node/mod.ts";
import type { NodeConfig } from "../config.ts";
import {
  type AnonymousAccess,
  type Authenticator,
  type GatewayAuth,
  type NodeApp,
} from "../http/mod.ts";
import type { Logger } from "../log.ts";
import { type MqttGateway, startMqttGateway } from "../mqtt/mod.ts";
import type { BrokerMachine } from "./broker_machine.ts";
import { gatewayFetch } from "./mqtt_fetch.ts";
import { mqttClaimsView } from "./mqtt_claims_view.ts";
import { TlsFront } from "./tls_front.ts";
import type { LoadedTls } from "./tls.ts";

/** What `startNode` passes the gateway. */
export interface NodeMqttOptions {
  readonly config: NodeConfig;
  readonly log: Logger;
  readonly tls: LoadedTls;
  /** The private directory of the Unix sockets behind the TLS fronts (TLS on). */
  readonly socketDir: string | undefined;
  /** The node's API, called in process. */
  readonly fetch: (request: Request) => Response | Promise<Response>;
  /** Its direct routes for in-process callers (`mqtt_fetch.ts`). */
  readonly inProcess?: NodeApp["inProcess"];
  readonly auth: Authenticator | undefined;
  readonly gatewayAuth: GatewayAuth | undefined;
  readonly anonymous: AnonymousAccess;
  readonly machine: BrokerMachine;
  readonly driver: NodeDriver;
  /** Entry time on this node now (`RaftNode.entryTimeMs`): MQTT 5 message expiry counts in it. */
  readonly entryTimeMs: () => number;
}

/** The running gateway, its TLS front and where the front pipes to (each when on). */
export interface NodeMqtt {
  readonly gateway: MqttGateway | undefined;
  readonly front: TlsFront | undefined;
  readonly tls: { readonly innerPath: string } | undefined;
}

/** Starts the MQTT gateway and its TLS front as configured (nothing when MQTT is off). */
export async function startNodeMqtt(o: NodeMqttOptions): Promise<NodeMqtt> {
  const { config, log, tls, socketDir, auth, gatewayAuth, anonymous, machine } = o;
  const mqttOn = config.mqttListen !== undefined || config.mqttTlsListen !== undefined;
  // MQTT over TLS: a TLS front (tls_front.ts) piping into the gateway's private Unix socket.
  const mqttTls = config.mqttTlsListen === undefined || tls.listener === undefined ? undefined : {
    listen: config.mqttTlsListen,
    innerPath: `${socketDir}/mqtt.sock`,
  };
  const mqtt = !mqttOn ? undefined : startMqttGateway({
    ...(config.mqttListen === undefined ? {} : { plain: config.mqttListen }),
    // Bodies and answers as JSON text, no streams; the principal authenticated at CONNECT.
    fetch: gatewayFetch({ fetch: o.fetch, inProcess: o.inProcess, gatewayAuth }),
    ...(auth ? { authenticate: (header: string) => auth.authenticate(header) } : {}),
    log,
    maxPacketBytes: config.mqttMaxPacketBytes,
    maxBodyBytes: config.maxBodyBytes,
    ...(mqttTls === undefined ? {} : { unixPath: mqttTls.innerPath }),
    nodeId: config.id,
    // Read through `machine.state` every time: a snapshot restore replaces it.
    claims: mqttClaimsView(() => machine.state),
    onApplied: (listener) => o.driver.onApplied(listener),
    entryTimeMs: o.entryTimeMs,
    ...(anonymous.open ? {} : { refuseAnonymous: anonymous.why }),
  });
  const mqttFront = mqttTls === undefined ? undefined : await TlsFront.start({
    ...mqttTls.listen,
    ...tls.listener!,
    innerPath: mqttTls.innerPath,
    log,
    name: "mqtt",
  });
  if (mqttFront !== undefined) {
    log.info("mqtt_tls_listening", { hostname: mqttTls!.listen.hostname, port: mqttFront.port });
  }
  return { gateway: mqtt, front: mqttFront, tls: mqttTls };
}
