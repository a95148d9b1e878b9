/**
 * Packets the MQTT tests build with mqtt-packet's own generator. Folder-private, tests only.
 *
 * @module
 */

import mqtt from "mqtt-packet";
import type { Packet } from "mqtt-packet";

/** A minimal CONNECT of protocol level `version` (3: MQIsdp, 4: MQTT 3.1.1, 5: MQTT 5). */
export const connectPacket = (version: 3 | 4 | 5): Uint8Array =>
  mqtt.generate({
    cmd: "connect",
    protocolId: version === 3 ? "MQIsdp" : "MQTT",
    protocolVersion: version,
    clientId: "c",
    clean: true,
    keepalive: 0,
  } as Packet);
