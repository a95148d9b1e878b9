/**
 * Helpers of the MQTT tests: nodes with `--mqtt-listen`, MQTT.js clients, a bounded wait for
 * messages, and a raw TCP socket for the packets a well-behaved client never sends.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import mqtt from "mqtt";
import type { IClientOptions, MqttClient } from "mqtt";
import mqttPacket from "mqtt-packet";
import type { IPublishPacket, Packet } from "mqtt-packet";
import { freePorts, Nodes, type NodesOptions } from "./nodes.ts";

/** Nodes with MQTT on, and each node's MQTT port. */
export async function mqttNodes(
  opts: NodesOptions,
): Promise<{ nodes: Nodes; mqttPort: (id: string) => number }> {
  const ports = freePorts(opts.count + 2);
  const byId = new Map<string, number>();
  const nodes = await Nodes.start({
    ...opts,
    env: (id) => {
      if (!byId.has(id)) byId.set(id, ports[byId.size]);
      return { ...opts.env?.(id), QUORUMQ_MQTT_LISTEN: `127.0.0.1:${byId.get(id)}` };
    },
  });
  return { nodes, mqttPort: (id) => byId.get(id)! };
}

export function connect(port: number, opts: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ...opts,
  });
}

export interface Received {
  readonly topic: string;
  readonly payload: string;
  readonly qos: number;
  readonly dup: boolean;
  readonly retain: boolean;
}

/** Collects what `client` receives. */
export function collect(client: MqttClient): Received[] {
  const got: Received[] = [];
  client.on("message", (topic, payload, packet) => {
    got.push({
      topic,
      payload: payload.toString(),
      qos: packet.qos,
      dup: packet.dup,
      retain: packet.retain,
    });
  });
  return got;
}

/**
 * Connects and answers the CONNACK's session present flag, with what the client receives from
 * its first packet on. A persistent session's queued messages follow the CONNACK at once: when
 * one arrives in the same read as the CONNACK, MQTT.js hands it to the `message` listeners before
 * the code awaiting the CONNACK runs, so a listener added after `await` never sees it (and a QoS 1
 * one is PUBACKed all the same: the broker does not send it again).
 */
export function connectAck(
  port: number,
  opts: IClientOptions,
): Promise<
  { client: MqttClient; sessionPresent: boolean; got: Received[]; packets: IPublishPacket[] }
> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ...opts,
  });
  const got = collect(client);
  // The PUBLISH packets themselves (their properties), from the first one on, too.
  const packets: IPublishPacket[] = [];
  client.on("message", (_topic, _payload, packet) => packets.push(packet));
  return new Promise((resolve, reject) => {
    client.once(
      "connect",
      (ack) => resolve({ client, sessionPresent: ack.sessionPresent, got, packets }),
    );
    client.once("error", (e) => {
      client.end(true);
      reject(e);
    });
  });
}

/** Waits until `cond` holds, up to `timeoutMs` (then throws with `what`). */
export async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
) {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Sends raw bytes and reads what comes back until the server closes (or `timeoutMs`). */
export async function rawExchange(
  port: number,
  chunks: Uint8Array[],
  timeoutMs = 10_000,
): Promise<{ bytes: Uint8Array; closed: boolean }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const out: number[] = [];
  const timer = setTimeout(() => conn.close(), timeoutMs);
  let closed = false;
  try {
    for (const c of chunks) await conn.write(c);
    const buf = new Uint8Array(4096);
    for (let i = 0; i < 1000; i++) {
      const n = await conn.read(buf);
      if (n === null) {
        closed = true;
        break;
      }
      out.push(...buf.subarray(0, n));
    }
  } catch {
    // closed by the timer: not by the server
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
  return { bytes: new Uint8Array(out), closed };
}

/** A packet a raw client read, and the bytes it took on the wire. */
export interface RawPacket {
  readonly packet: Packet;
  readonly bytes: number;
}

/**
 * A raw MQTT client on `port` (MQTT 5, or 3.1.1 with `protocolVersion` 4): the packets it got, in
 * order, whether the server closed, and writes as the test says.
 */
export async function rawClient(port: number, protocolVersion: 4 | 5 = 5) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const got: RawPacket[] = [];
  const parser = mqttPacket.parser({ protocolVersion });
  // The whole packet: its first byte, its remaining length's bytes, and that length.
  parser.on("packet", (pk: Packet) => {
    const rest = pk.length ?? 0;
    got.push({ packet: pk, bytes: 1 + (rest < 128 ? 1 : rest < 16_384 ? 2 : 3) + rest });
  });
  let closed = false;
  const reading = (async () => {
    const buf = new Uint8Array(65536);
    for (let i = 0; i < 100_000; i++) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      parser.parse(Buffer.from(buf.subarray(0, n)));
    }
    closed = true;
  })();
  const encode = (pk: Packet) => mqttPacket.generate(pk, { protocolVersion });
  return {
    got,
    /** The packets got, without their sizes. */
    packets: (): Packet[] => got.map((g) => g.packet),
    send: (pk: Packet) => conn.write(encode(pk)),
    /** Writes the packets in one write: they arrive together. */
    sendTogether: (pks: Packet[]) => conn.write(Buffer.concat(pks.map(encode))),
    closed: () => closed,
    close: async () => {
      try {
        conn.close();
      } catch {
        // closed by the server
      }
      await reading;
    },
  };
}

/**
 * Creates the `mqtt` topic before the gateway does, with limits retention and no limit, so its log
 * keeps every message (the gateway's own `mqtt` topic keeps only what a session still holds): for
 * tests that read the log as the record of what was published.
 */
export async function keepEveryMessage(url: string): Promise<void> {
  const res = await fetch(`${url}/v1/topics/mqtt`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ retention: "limits" }),
  });
  assert.equal(res.status, 201, await res.text());
}
