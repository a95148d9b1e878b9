/**
 * A connection's surroundings for tests that run an `MqttConnection` in process: a gateway
 * context over a fake API, and a byte stream fed packet by packet. Folder-private, tests only.
 *
 * @module
 */

import mqtt from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { silentLogger } from "../log.ts";
import type { Logger } from "../log.ts";
import type { ApiRequest } from "./broker_api.ts";
import type { GatewayContext } from "./gateway_context.ts";
import type { ByteStream } from "./wire.ts";

/** An answer of the fake API. */
export type FakeAnswer = Promise<{ status: number; text: string }>;

/** An answer with `body` as its JSON text. */
export const answer = (status: number, body: unknown): FakeAnswer =>
  Promise.resolve({ status, text: JSON.stringify(body) });

/** An answer that never comes (a receive that waits, a commit that does not happen). */
export const NEVER: FakeAnswer = new Promise(() => {});

/** The `mqtt` topic as the gateway makes it (a CONNECT finds nothing to change). */
const MQTT_TOPIC_INFO = { name: "mqtt", dedupWindowMs: 300_000, retention: "interest" };

/**
 * The fake API's answers to what every connection asks at CONNECT and SUBSCRIBE (the topic, the
 * session's claim, its subscriptions, retained messages), else `rest(r)`.
 */
export function fakeApi(
  rest: (r: ApiRequest) => FakeAnswer | undefined,
): (r: ApiRequest) => FakeAnswer {
  return (r) => {
    const own = rest(r);
    if (own !== undefined) return own;
    if (r.method === "GET" && r.path === "/v1/topics/mqtt") return answer(200, MQTT_TOPIC_INFO);
    if (r.path.includes("/claims/")) return answer(200, { stamp: 1, present: false });
    if (r.path.includes("/retained")) return answer(200, { messages: [] });
    if (r.method === "PUT" && r.path.includes("/subscriptions/")) return answer(201, {});
    return NEVER;
  };
}

/** A gateway context on one node with no claims, auth off, over `fetch`. */
export function testContext(
  fetch: (r: ApiRequest) => FakeAnswer,
  log: Logger = silentLogger,
): GatewayContext {
  return {
    fetch,
    log,
    maxPacketBytes: 1 << 20,
    maxBodyBytes: 1 << 20,
    live: new Map(),
    holderPrefix: "n1/boot/",
    claims: {
      changes: () => 0,
      changedSince: () => [],
      claim: () => undefined,
      heldBy: () => [],
    },
    authenticate: undefined,
    refuseAnonymous: undefined,
    entryTimeMs: () => 0,
  };
}

/**
 * A client's byte stream: `give` queues packets the connection reads in order, `end` ends it;
 * each write goes to `onWrite`, whose promise is the write's.
 */
export function packetStream(
  onWrite: (bytes: Uint8Array) => Promise<number> = (b) => Promise.resolve(b.length),
): ByteStream & { give(...packets: Uint8Array[]): void; end(): void } {
  const queued: (Uint8Array | null)[] = [];
  let more = () => {};
  const end = () => {
    queued.push(null);
    more();
  };
  return {
    async read(buf) {
      // Bounded: each turn takes a packet, or waits for `give` or `end`.
      for (let i = 0; queued.length === 0 && i < 1_000_000; i++) {
        await new Promise<void>((r) => more = r);
      }
      const next = queued.shift();
      if (next === null || next === undefined) {
        queued.unshift(null); // ended for good
        return null;
      }
      buf.set(next);
      return next.length;
    },
    write: onWrite,
    close: end,
    remote: "test:0",
    give(...packets) {
      queued.push(...packets);
      more();
    },
    end,
  };
}

/** Receives a flood answers before it stops answering (the tests' own bound). */
export const RECEIVES_OFFERED = 2_000;

/** A fake API whose QoS 0 receives each answer 256 messages of `bodyBytes`, counted. */
export function qos0Flood(bodyBytes: number) {
  const counter = { receives: 0 };
  let seq = 0;
  const batch = () =>
    Array.from({ length: 256 }, () => ({
      seq: ++seq,
      body: "x".repeat(bodyBytes),
      headers: { "mqtt-qos": "0", "mqtt-payload": "text" },
      subject: "slow.x",
      attempt: 1,
      receipt: `r${seq}`,
    }));
  const fetch = fakeApi((r: ApiRequest) => {
    if (!r.path.endsWith("-q0/receive")) return undefined;
    return ++counter.receives > RECEIVES_OFFERED ? NEVER : answer(200, { messages: batch() });
  });
  return { fetch, counter };
}

/** CONNECT and SUBSCRIBE `slow/#` at QoS 0. */
export function slowSubscriber(clientId: string): Uint8Array[] {
  return [
    mqtt.generate({ cmd: "connect", protocolVersion: 4, clientId, clean: true } as Packet),
    mqtt.generate({
      cmd: "subscribe",
      messageId: 1,
      subscriptions: [{ topic: "slow/#", qos: 0 }],
    } as Packet),
  ];
}

/** Waits until `count()` stops moving (1 s without a change) or passes `most`; its last value. */
export async function untilStill(count: () => number, most: number): Promise<number> {
  let last = -1;
  let lastAt = Date.now();
  for (let i = 0; i < 600 && count() <= most; i++) {
    await new Promise((r) => setTimeout(r, 50));
    if (count() !== last) {
      last = count();
      lastAt = Date.now();
    } else if (Date.now() - lastAt > 1000) break;
  }
  return count();
}
