/**
 * A Message Expiry Interval longer than the 30 days a message's TTL may be in the broker (MQTT 5
 * 3.3.2.3.3): the message is kept for a session that still awaits it until its own interval has
 * passed, and is sent with "the received value minus the time that the Application Message has
 * been waiting in the Server". Before, the gateway gave it a TTL of 30 days: at day 31 a message
 * published with 40 days was gone from the session's queue and from the topic's retained
 * messages, though a subscriber sent it at day 29 was told it had 11 days left. Real gateway
 * connections, in process, over a node whose entry time this test moves (31, then 41 days).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import mqtt from "mqtt-packet";
import type { IPublishPacket, Packet } from "mqtt-packet";
import { answerTextOf, createApp, inProcessRequest } from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { silentLogger } from "../log.ts";
import type { ApiFetch } from "./broker_api.ts";
import { MqttConnection } from "./connection.ts";
import type { GatewayContext } from "./gateway_context.ts";
import { packetStream, testContext } from "./_testing_connection.ts";

const DAY_MS = 24 * 3600 * 1000;
const DAYS = 24 * 3600;

/** A node whose monotonic clock (its entry time) moves only by `advance`. */
function node(): { ctx: GatewayContext; advance(ms: number): void } {
  let mono = 1_000;
  const local = new LocalNode({ monoNowMs: () => mono, wallNowMs: () => 1_700_000_000_000 });
  const app = createApp({ node: local, log: silentLogger });
  const fetch: ApiFetch = async (r) => {
    const text = r.text ?? (r.value === undefined ? undefined : JSON.stringify(r.value.json));
    const init = { method: r.method, headers: new Headers(r.headers) };
    const res = await app.fetch(inProcessRequest(`http://mqtt.gateway${r.path}`, init, text));
    return { status: res.status, text: await answerTextOf(res) };
  };
  const ctx = { ...testContext(fetch), entryTimeMs: () => local.clock.now() };
  return { ctx, advance: (ms) => mono += ms };
}

/** A v5 client over an in-process connection: what it sends, and the packets it got. */
function client(ctx: GatewayContext) {
  const parser = mqtt.parser({ protocolVersion: 5 });
  const got: Packet[] = [];
  parser.on("packet", (p) => got.push(p));
  const stream = packetStream((b) => (parser.parse(Buffer.from(b)), Promise.resolve(b.length)));
  const running = new MqttConnection(ctx, stream).run();
  return {
    got,
    send: (p: Record<string, unknown>) =>
      stream.give(mqtt.generate(p as unknown as Packet, { protocolVersion: 5 })),
    async until(cond: () => boolean, what: string) {
      for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(cond(), `timed out waiting for ${what}`);
    },
    async end() {
      stream.give(mqtt.generate({ cmd: "disconnect" } as Packet, { protocolVersion: 5 }));
      await running;
    },
  };
}

const connect = (clientId: string, clean: boolean) => ({
  cmd: "connect",
  protocolVersion: 5,
  clientId,
  clean,
  keepalive: 0,
  properties: { sessionExpiryInterval: 0xffffffff },
});

const publishes = (got: Packet[]) => got.filter((p): p is IPublishPacket => p.cmd === "publish");

Deno.test({
  name: "a message expiry over 30 days: kept and sent with the interval left, until it passes",
  sanitizeOps: false, // the session's receives wait out their long poll
  sanitizeResources: false,
  async fn() {
    const { ctx, advance } = node();
    const sub = client(ctx);
    sub.send(connect("away", false));
    sub.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "x/#", qos: 1 }] });
    await sub.until(() => sub.got.some((p) => p.cmd === "suback"), "SUBACK");
    await sub.end();
    const pub = client(ctx);
    pub.send(connect("pub", true));
    const publish = (messageId: number, topic: string, days: number | undefined, retain = false) =>
      pub.send({
        cmd: "publish",
        topic,
        payload: topic,
        qos: 1,
        retain,
        messageId,
        ...(days === undefined ? {} : { properties: { messageExpiryInterval: days * DAYS } }),
      });
    publish(1, "x/short", 20);
    publish(2, "x/long", 40);
    publish(3, "r/long", 40, true);
    publish(4, "r/marker", undefined, true);
    await pub.until(() => pub.got.filter((p) => p.cmd === "puback").length === 4, "PUBACKs");
    await pub.end();

    advance(31 * DAY_MS);
    const back = client(ctx);
    back.send(connect("away", false));
    await back.until(() => publishes(back.got).some((p) => p.topic === "x/long"), "x/long");
    const sent = publishes(back.got);
    assert.deepEqual(sent.map((p) => p.topic), ["x/long"]); // x/short (before it) expired
    assert.equal(sent[0].properties?.messageExpiryInterval, 9 * DAYS);
    back.send({ cmd: "puback", messageId: sent[0].messageId });
    back.send({ cmd: "subscribe", messageId: 2, subscriptions: [{ topic: "r/#", qos: 0 }] });
    await back.until(() => publishes(back.got).some((p) => p.topic === "r/marker"), "r/marker");
    const retained = publishes(back.got).slice(1);
    assert.deepEqual(retained.map((p) => [p.topic, p.retain]), [["r/long", true], [
      "r/marker",
      true,
    ]]);
    assert.equal(retained[0].properties?.messageExpiryInterval, 9 * DAYS);
    await back.end();

    advance(10 * DAY_MS); // 41 days: past the interval
    const late = client(ctx);
    late.send(connect("late", true));
    late.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "r/#", qos: 0 }] });
    await late.until(() => publishes(late.got).some((p) => p.topic === "r/marker"), "r/marker");
    assert.deepEqual(publishes(late.got).map((p) => p.topic), ["r/marker"]);
    await late.end();
  },
});
