/**
 * What the two halves of an MQTT connection (`inbound.ts`, `outbound.ts`) act through: the API as
 * the connection's token, whose session it is, and the connection's writes and end.
 *
 * @module
 */

import type { Packet } from "mqtt-packet";
import type { BrokerApi } from "./broker_api.ts";
import type { SessionOwner } from "./session.ts";
import type { MqttAccess } from "./access.ts";

/** The acknowledgements the inbound half writes. */
export type AckCmd = "puback" | "pubrec" | "pubcomp";

export interface InboundHost {
  readonly api: BrokerApi;
  /** What the connection's token may publish and subscribe to. */
  readonly access: MqttAccess;
  readonly clientId: string;
  /** Whose session it is: the client id within the token's principal. */
  readonly owner: SessionOwner;
  /**
   * The connection's holder of the session's claim (`holderPrefix + uuid`): its QoS 2 publishes,
   * PUBRELs and PUBRECs name it, and the broker refuses them (`session_moved`, nothing applied)
   * once another connection holds the session or it was released (test/chaos/FINDINGS.md, F11).
   * Undefined: not fenced (tests and benches that take no claim).
   */
  readonly holder?: string;
  /**
   * False once the connection has ended: its batch publishes, PUBRELs and PUBRECs are not retried
   * after that (`BrokerApi.write`). Undefined: always live.
   */
  live?(): boolean;
  readonly version: number;
  /**
   * The API's body limit (`--max-body-bytes`): a batch publish whose JSON would pass it goes as
   * several, each within it (`Inbound.#cut`).
   */
  readonly maxBodyBytes: number;
  /**
   * v5: the client's Maximum Packet Size (its CONNECT's); a delivery whose PUBLISH would pass it
   * is dropped as if sent (`outbound.ts`). Undefined: no bound but the protocol's.
   */
  readonly clientMaxPacketBytes?: number | undefined;
  send(p: Packet): void;
  /**
   * Writes a PUBACK, PUBREC or PUBCOMP (v5: with `reasonCode`; v3.1.1 has none), in order with
   * what `send` wrote: the plain ones straight into the connection's write buffer, no packet
   * object or buffer each (`Wire.sendAck`).
   */
  ack(cmd: AckCmd, messageId: number, reasonCode: number): void;
  /** Resolves once what was sent so far is written to the socket (undefined: at once). */
  written?(): Promise<void>;
  /** What the session's PUBLISHes carry in `FROM_HEADER` (MQTT 5 No Local), if anything. */
  fromTag?(): string | undefined;
  /**
   * Entry time on this node now (docs/broker.md): what a delivery's message expiry left is
   * counted against (`expiry.ts`). Undefined: none has waited.
   */
  entryTimeMs?(): number;
  /** A warning log line about this connection. */
  log(event: string, details: Record<string, unknown>): void;
  /** Ends the connection: a v5 DISCONNECT with `reason` first. */
  fail(reason: number, detail: string): void;
}
