/**
 * A subscriber that stops reading its socket (its connection stays open) must not make the node
 * keep what it is sent without bound: the session's QoS 0 receives (no acknowledgement window
 * holds them back) wait for what was sent before to be written.
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { silentLogger } from "../log.ts";
import type { ApiRequest } from "./broker_api.ts";
import { type GatewayContext, MqttConnection } from "./connection.ts";
import type { ByteStream } from "./wire.ts";

/** Receives answered before the fake API stops answering (the test's own bound). */
const RECEIVES_OFFERED = 2_000;
/** The bytes the client reads before it stops reading. */
const READ_BYTES = 16 * 1024;

Deno.test("a QoS 0 subscriber that stops reading holds its session's receives back", async () => {
  const never = new Promise<{ status: number; text: string }>(() => {});
  const answer = (status: number, body: unknown) =>
    Promise.resolve({ status, text: JSON.stringify(body) });
  let receives = 0;
  let seq = 0;
  const batch = () =>
    Array.from({ length: 256 }, () => ({
      seq: ++seq,
      body: "0123456789abcdef0123456789abcdef",
      headers: { "mqtt-qos": "0", "mqtt-payload": "text" },
      subject: "slow.x",
      attempt: 1,
      receipt: `r${seq}`,
    }));
  const fetch = (r: ApiRequest) => {
    if (r.method === "GET" && r.path === "/v1/topics/mqtt") return answer(200, {});
    if (r.path.includes("/claims/")) return answer(200, { stamp: 1, present: false });
    if (r.path.includes("/retained")) return answer(200, { messages: [] });
    if (r.method === "PUT" && r.path.includes("/subscriptions/")) return answer(201, {});
    if (r.path.endsWith("-q0/receive")) {
      if (++receives > RECEIVES_OFFERED) return never;
      return answer(200, { messages: batch() });
    }
    return never;
  };
  const connect = mqtt.generate({
    cmd: "connect",
    protocolVersion: 4,
    clientId: "slow-reader",
    clean: true,
    keepalive: 0,
  } as Packet);
  const subscribe = mqtt.generate({
    cmd: "subscribe",
    messageId: 1,
    subscriptions: [{ topic: "slow/#", qos: 0 }],
  } as Packet);
  let reads = 0;
  let written = 0;
  let lastActivity = Date.now();
  const { promise: ended, resolve: end } = Promise.withResolvers<null>();
  const { promise: stuck, resolve: unstick } = Promise.withResolvers<number>();
  const stream: ByteStream = {
    read(buf) {
      reads++;
      if (reads === 1) {
        buf.set(connect);
        return Promise.resolve(connect.length);
      }
      if (reads === 2) {
        buf.set(subscribe);
        return Promise.resolve(subscribe.length);
      }
      return ended;
    },
    write(b) {
      lastActivity = Date.now();
      if (written >= READ_BYTES) return stuck.then(() => b.length); // the client reads no more
      written += b.length;
      return Promise.resolve(b.length);
    },
    close: () => {
      unstick(0);
      end(null);
    },
    remote: "test:0",
  };
  const ctx = {
    fetch,
    log: silentLogger,
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
  } satisfies GatewayContext;
  const conn = new MqttConnection(ctx, stream);
  const running = conn.run();
  let last = -1;
  // Until the receives stop (1 s without one) or all that were offered were taken.
  for (let i = 0; i < 600 && receives <= RECEIVES_OFFERED; i++) {
    await new Promise((r) => setTimeout(r, 50));
    if (receives !== last) {
      last = receives;
      lastActivity = Date.now();
    } else if (Date.now() - lastActivity > 1000) break;
  }
  const taken = receives;
  end(null);
  unstick(0);
  await running;
  assert.ok(written >= READ_BYTES, "the client read its first deliveries");
  assert.ok(
    taken < 10,
    `${taken} receives of 256 (${taken * 256} messages) went to a client that reads nothing`,
  );
});
