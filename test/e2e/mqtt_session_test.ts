/**
 * MQTT across a 3-node cluster, with MQTT.js (3.1.1 and 5) and
 * mosquitto_pub/sub: retained messages (set, cleared, v5 retain handling and retain as
 * published), session takeover across nodes, session expiry, the will delay interval, and shared
 * subscriptions coming back with a persistent session on another node, topic aliases to the
 * client.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import mqttPacket from "mqtt-packet";
import {
  collect,
  connect,
  connectAck,
  mqttNodes,
  rawClient as openRawClient,
  until,
} from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 3, storage: "memory" });
addEventListener("unload", () => nodes.stop());
await nodes.waitLeader();
const [n1, n2, n3] = nodes.ids.map(mqttPort);

async function claimOf(clientId: string): Promise<number> {
  const { sessionKey } = await import("../../src/mqtt/session.ts");
  const res = await fetch(
    `${nodes.url("n1")}/v1/topics/mqtt/claims/${sessionKey({ clientId, principal: undefined })}`,
  );
  await res.body?.cancel();
  return res.status;
}

for (const protocolVersion of [4, 5] as const) {
  Deno.test(`MQTT.js v${protocolVersion}: a new subscriber gets the retained message of each topic (RETAIN set); an empty retained payload clears it`, async () => {
    const root = `ret${protocolVersion}`;
    const pub = await connect(n1, { protocolVersion });
    await pub.publishAsync(`${root}/a`, "old", { qos: 1, retain: true });
    await pub.publishAsync(`${root}/a`, "new", { qos: 1, retain: true });
    await pub.publishAsync(`${root}/b`, "b0", { qos: 0, retain: true });
    await pub.publishAsync(`${root}/c`, "c0", { qos: 1, retain: true });
    await pub.publishAsync(`${root}/c`, "", { qos: 1, retain: true }); // clears c
    await pub.publishAsync(`${root}/d`, "not retained", { qos: 1 });
    // On another node: the retained messages are replicated state.
    const sub = await connect(n2, { protocolVersion });
    const got = collect(sub);
    await sub.subscribeAsync({ [`${root}/+`]: { qos: 1 } });
    await until(() => got.length >= 2, "two retained messages");
    await pub.publishAsync(`${root}/a`, "live", { qos: 1, retain: true });
    await until(() => got.length >= 3, "the live one");
    assert.deepEqual(got.map((m) => [m.topic, m.payload, m.qos, m.retain]), [
      [`${root}/a`, "new", 1, true],
      [`${root}/b`, "b0", 0, true],
      // To a subscription that existed already: RETAIN 0.
      [`${root}/a`, "live", 1, false],
    ]);
    await Promise.all([pub.endAsync(), sub.endAsync()]);
  });
}

for (const protocolVersion of [4, 5] as const) {
  Deno.test(`MQTT.js v${protocolVersion}: a retained message goes at the lower of its QoS and the granted QoS, QoS 2 included (PUBREC, PUBREL, PUBCOMP)`, async () => {
    const root = `retq${protocolVersion}`;
    const pub = await connect(n1, { protocolVersion });
    for (const qos of [0, 1, 2] as const) {
      await pub.publishAsync(`${root}/q${qos}`, `p${qos}`, { qos, retain: true });
    }
    for (const granted of [2, 1] as const) {
      const sub = await connect(n2, { protocolVersion });
      const got = collect(sub);
      await sub.subscribeAsync({ [`${root}/+`]: { qos: granted } });
      // MQTT.js hands a QoS 2 message over at PUBREL: the exchange went through.
      await until(() => got.length >= 3, `three retained messages at granted QoS ${granted}`);
      assert.deepEqual(
        got.map((m) => [m.payload, m.qos, m.retain]).sort(),
        [["p0", 0, true], ["p1", 1, true], ["p2", granted, true]],
      );
      await sub.endAsync();
    }
    await pub.endAsync();
  });
}

Deno.test("MQTT 5 retain handling: 1 sends the retained messages for a new subscription only, 2 never; retain as published keeps RETAIN", async () => {
  const pub = await connect(n1, { protocolVersion: 5 });
  await pub.publishAsync("rh/x", "kept", { qos: 1, retain: true });
  const sub = await connect(n3, { protocolVersion: 5, clientId: "rh-sub" });
  const got = collect(sub);
  await sub.subscribeAsync({ "rh/+": { qos: 1, rh: 1 } });
  await until(() => got.length >= 1, "the retained message");
  await sub.subscribeAsync({ "rh/+": { qos: 1, rh: 1, rap: true } }); // exists: none again
  await sub.subscribeAsync({ "rh/#": { qos: 1, rh: 2 } });
  await pub.publishAsync("rh/x", "live", { qos: 1, retain: true });
  await until(() => got.length >= 2, "the live one");
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(got.map((m) => [m.payload, m.retain]), [["kept", true], ["live", true]]);
  await Promise.all([pub.endAsync(), sub.endAsync()]);
});

Deno.test("mosquitto_pub -r leaves a retained message that mosquitto_sub gets from another node", async () => {
  const found = await new Deno.Command("sh", { args: ["-c", "command -v mosquitto_sub"] }).output();
  if (!found.success) {
    console.log("skipped: mosquitto-clients is not installed (apt-get install mosquitto-clients)");
    return;
  }
  const pub = await new Deno.Command("mosquitto_pub", {
    args: ["-p", String(n1), "-t", "mosq-ret/t", "-m", "retained hello", "-q", "1", "-r"],
  }).output();
  assert.ok(pub.success);
  const sub = await new Deno.Command("mosquitto_sub", {
    args: [
      "-p",
      String(n2),
      "-t",
      "mosq-ret/#",
      "-q",
      "1",
      "-C",
      "1",
      "-v",
      "-W",
      "20",
      "-F",
      "%r %t %p",
    ],
  }).output();
  assert.equal(new TextDecoder().decode(sub.stdout).trim(), "1 mosq-ret/t retained hello");
});

for (const protocolVersion of [4, 5] as const) {
  Deno.test(`MQTT.js v${protocolVersion}: the same client id connecting to another node takes the session over: the old connection is closed${protocolVersion === 5 ? " with DISCONNECT 0x8E" : ""}`, async () => {
    const clientId = `roamer-${protocolVersion}`;
    const first = await connect(n1, { clientId, protocolVersion, clean: false });
    await first.subscribeAsync({ [`roam${protocolVersion}/+`]: { qos: 1 } });
    const reason = new Promise<number | undefined>((r) =>
      first.once("disconnect", (p) => r(p.reasonCode))
    );
    const closed = new Promise<void>((r) => first.once("close", () => r()));
    const { client: second, sessionPresent, got } = await connectAck(n2, {
      clientId,
      protocolVersion,
      clean: false,
    });
    assert.equal(sessionPresent, true);
    await closed;
    if (protocolVersion === 5) assert.equal(await reason, 0x8e);
    const pub = await connect(n3, { protocolVersion });
    await pub.publishAsync(`roam${protocolVersion}/a`, "to the new one", { qos: 1 });
    await until(() => got.length === 1, "the message on the new connection");
    // The old connection's end did not end the session the new one holds.
    assert.equal(await claimOf(clientId), 200);
    await Promise.all([pub.endAsync(), second.endAsync()]);
    first.end(true);
  });
}

Deno.test("MQTT 5 session expiry: a session ends (with its queued messages) after its interval; a reconnect before keeps it", async () => {
  const opts = { protocolVersion: 5 as const, clean: false };
  const short = await connect(n1, {
    ...opts,
    clientId: "exp-1s",
    properties: { sessionExpiryInterval: 1 },
  });
  await short.subscribeAsync({ "exp/+": { qos: 1 } });
  await short.endAsync();
  const pub = await connect(n2, { protocolVersion: 5 });
  await pub.publishAsync("exp/a", "while away", { qos: 1 });
  await until(async () => await claimOf("exp-1s") === 404, "the session's end", 20_000);
  const { client: back, sessionPresent, got } = await connectAck(n3, {
    ...opts,
    clientId: "exp-1s",
    properties: { sessionExpiryInterval: 1 },
  });
  assert.equal(sessionPresent, false);
  await back.subscribeAsync({ "exp/+": { qos: 1 } });
  await pub.publishAsync("exp/b", "after", { qos: 1 });
  await until(() => got.length >= 1, "the new message");
  assert.deepEqual(got.map((m) => m.payload), ["after"]);
  await back.endAsync();
  // A DISCONNECT may lengthen it: the session is there after the first interval.
  const long = await connect(n1, {
    ...opts,
    clientId: "exp-dis",
    properties: { sessionExpiryInterval: 1 },
  });
  await long.subscribeAsync({ "exp/+": { qos: 1 } });
  await long.endAsync(false, { properties: { sessionExpiryInterval: 3600 } });
  await pub.publishAsync("exp/c", "kept", { qos: 1 });
  await new Promise((r) => setTimeout(r, 1500));
  const again = await connectAck(n2, { ...opts, clientId: "exp-dis" });
  assert.equal(again.sessionPresent, true);
  const kept = again.got;
  await until(() => kept.length >= 1, "the message queued while away");
  assert.equal(kept[0].payload, "kept");
  await Promise.all([again.client.endAsync(), pub.endAsync()]);
});

Deno.test("MQTT 5 will delay: the will goes after min(will delay, session expiry); a reconnect within the delay cancels it", async () => {
  const watcher = await connect(n3, { clientId: "wd-watcher" });
  const got = collect(watcher);
  await watcher.subscribeAsync({ "wd/#": { qos: 1 } });
  const will = (topic: string, delay: number) => ({
    topic,
    payload: Buffer.from("gone"),
    qos: 1 as const,
    retain: false,
    properties: { willDelayInterval: delay },
  });
  // Delay 3600 s, session expiry 1 s: the session ends first, the will goes then.
  const a = await connect(n1, {
    clientId: "wd-a",
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: 1 },
    will: will("wd/a", 3600),
  });
  // Delay 4 s, and the client comes back at once (to another node): no will.
  const b = await connect(n1, {
    clientId: "wd-b",
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: 600 },
    will: will("wd/b", 4),
  });
  a.stream.destroy();
  b.stream.destroy();
  const bBack = await connect(n2, {
    clientId: "wd-b",
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: 600 },
  });
  await until(() => got.length >= 1, "wd/a's will");
  // Past wd/b's delay (with room): its will was cancelled by the reconnect.
  await until(() => nodes.logs("n1").includes("mqtt_will_cancelled"), "wd/b's will cancelled");
  assert.deepEqual(got.map((m) => m.topic), ["wd/a"]);
  a.end(true);
  b.end(true);
  await Promise.all([bBack.endAsync(), watcher.endAsync()]);
});

Deno.test("a persistent session's shared subscriptions come back when it reconnects to another node", async () => {
  const opts = { protocolVersion: 5 as const, clean: false, clientId: "share-roam" };
  const first = await connect(n1, { ...opts, properties: { sessionExpiryInterval: 600 } });
  await first.subscribeAsync({ "$share/g1/tasks/+": { qos: 1 } });
  await first.endAsync();
  const { client: back, sessionPresent, got } = await connectAck(n2, {
    ...opts,
    properties: { sessionExpiryInterval: 600 },
  });
  assert.equal(sessionPresent, true);
  const pub = await connect(n3, { protocolVersion: 5 });
  for (let i = 0; i < 5; i++) await pub.publishAsync(`tasks/${i}`, `t${i}`, { qos: 1 });
  await until(() => got.length >= 5, "the group's messages, without a new SUBSCRIBE");
  assert.deepEqual(got.map((m) => m.payload).sort(), ["t0", "t1", "t2", "t3", "t4"]);
  await Promise.all([back.endAsync(), pub.endAsync()]);
});

Deno.test("MQTT 5 topic aliases to the client: within its maximum, a topic's later PUBLISHes carry the alias and an empty topic", async () => {
  const sub = await connect(n2, {
    protocolVersion: 5,
    clientId: "alias-sub",
    properties: { topicAliasMaximum: 2 },
  });
  const got = collect(sub);
  const raw: { topic: string; alias: number | undefined }[] = [];
  sub.on("packetreceive", (p) => {
    if (p.cmd === "publish") raw.push({ topic: p.topic, alias: p.properties?.topicAlias });
  });
  await sub.subscribeAsync({ "alias/+": { qos: 1 } });
  const pub = await connect(n1, { protocolVersion: 5 });
  for (const t of ["a", "a", "b", "c", "a", "c", "b"]) {
    await pub.publishAsync(`alias/${t}`, t, { qos: 1 });
  }
  await until(() => got.length >= 7, "seven messages");
  assert.deepEqual(got.map((m) => m.topic), [
    "alias/a",
    "alias/a",
    "alias/b",
    "alias/c",
    "alias/a",
    "alias/c",
    "alias/b",
  ]);
  // Two aliases allowed: a and b get them; c never does.
  assert.deepEqual(raw.map((r) => [r.topic, r.alias ?? null]), [
    ["alias/a", 1],
    ["", 1],
    ["alias/b", 2],
    ["alias/c", null],
    ["", 1],
    ["alias/c", null],
    ["", 2],
  ]);
  await Promise.all([sub.endAsync(), pub.endAsync()]);
});

Deno.test("QoS 2 deliveries: PUBLISH, PUBREC, PUBREL, PUBCOMP to the subscriber, each message once", async () => {
  for (const protocolVersion of [4, 5] as const) {
    const sub = await connect(n1, { protocolVersion, clientId: `q2d-${protocolVersion}` });
    const got = collect(sub);
    const granted = await sub.subscribeAsync({ [`q2d${protocolVersion}/+`]: { qos: 2 } });
    assert.deepEqual(granted.map((g) => g.qos), [2]);
    const pub = await connect(n2, { protocolVersion });
    for (let i = 0; i < 20; i++) {
      await pub.publishAsync(`q2d${protocolVersion}/${i % 3}`, `m${i}`, {
        qos: (i % 3) as 0 | 1 | 2,
      });
    }
    await until(() => got.length >= 20, "20 messages");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(got.length, 20);
    // Each once, at the QoS it was published with (the subscription allows 2). MQTT.js hands a
    // QoS 2 message over at PUBREL, a round trip later: order by payload.
    const byIndex = got.map((m) => [Number(m.payload.slice(1)), m.qos]).sort((x, y) => x[0] - y[0]);
    assert.deepEqual(byIndex, Array.from({ length: 20 }, (_, i) => [i, i % 3]));
    await Promise.all([sub.endAsync(), pub.endAsync()]);
  }
});

/** A raw MQTT 3.1.1 client: the packets it got, and a way to send its own. */
/** A raw MQTT 3.1.1 client with a persistent session (`clientId`), connected to `port`. */
async function rawClient(port: number, clientId: string) {
  const c = await openRawClient(port, 4);
  await c.send({ cmd: "connect", protocolVersion: 4, clientId, clean: false, keepalive: 0 });
  await until(() => c.packets().some((p) => p.cmd === "connack"), "CONNACK");
  return {
    get got(): mqttPacket.Packet[] {
      return c.packets();
    },
    send: c.send,
    close: c.close,
  };
}

Deno.test("QoS 2 delivery across reconnects to other nodes: the PUBLISH again (DUP, same id) until PUBREC, then the PUBREL again until PUBCOMP, then nothing", async () => {
  const publishes = (c: { got: mqttPacket.Packet[] }) =>
    c.got.filter((p): p is mqttPacket.IPublishPacket => p.cmd === "publish");
  const pubrels = (c: { got: mqttPacket.Packet[] }) => c.got.filter((p) => p.cmd === "pubrel");
  const c1 = await rawClient(n1, "q2-raw");
  await c1.send({
    cmd: "subscribe",
    messageId: 1,
    subscriptions: [{ topic: "q2raw/#", qos: 2 }],
  });
  await until(() => c1.got.some((p) => p.cmd === "suback"), "SUBACK");
  const pub = await connect(n3, { protocolVersion: 4 });
  await pub.publishAsync("q2raw/a", "exactly once", { qos: 2 });
  await until(() => publishes(c1).length === 1, "the PUBLISH");
  const first = publishes(c1)[0];
  assert.equal(first.qos, 2);
  // The link drops before PUBREC: the message is still the session's, sent again.
  await c1.close();
  const c2 = await rawClient(n2, "q2-raw");
  await until(() => publishes(c2).length === 1, "the PUBLISH again", 30_000);
  const again = publishes(c2)[0];
  assert.deepEqual(
    [again.messageId, again.dup, again.qos, String(again.payload)],
    [first.messageId, true, 2, "exactly once"],
  );
  // PUBREC settles it; the link drops before PUBCOMP: the next connection gets the PUBREL.
  await c2.send({ cmd: "pubrec", messageId: again.messageId });
  await until(() => pubrels(c2).length === 1, "PUBREL");
  await c2.close();
  const c3 = await rawClient(n3, "q2-raw");
  await until(() => pubrels(c3).length === 1, "the PUBREL again");
  assert.equal(pubrels(c3)[0].messageId, first.messageId);
  await c3.send({ cmd: "pubcomp", messageId: first.messageId });
  await new Promise((r) => setTimeout(r, 300));
  await c3.close();
  // Done: a later connection gets neither, and the next message flows.
  const c4 = await rawClient(n1, "q2-raw");
  await pub.publishAsync("q2raw/b", "next", { qos: 1 });
  await until(() => publishes(c4).length >= 1, "the next message");
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(publishes(c4).map((p) => String(p.payload)), ["next"]);
  assert.equal(pubrels(c4).length, 0);
  assert.deepEqual(publishes(c3).length, 0);
  await c4.close();
  await pub.endAsync();
});

Deno.test("a persistent session keeps the QoS 0 messages published while it was away (its old connection's receive on the leader does not take them)", async () => {
  const opts = { protocolVersion: 4 as const, clean: false, clientId: "q0-away" };
  // On the leader: a follower's receive is forwarded, and the leader's long poll goes on after
  // the follower gave up on it (docs/mqtt.md "Not yet").
  const leader = mqttPort(await nodes.waitLeader());
  const first = await connect(leader, opts);
  await first.subscribeAsync({ "q0away/+": { qos: 0 } });
  await first.endAsync();
  const pub = await connect(n2, { protocolVersion: 4 });
  for (let i = 0; i < 3; i++) await pub.publishAsync(`q0away/${i}`, `m${i}`, { qos: 0 });
  // Collected from the CONNACK on: the queued messages may come in the same read as it.
  const { client: back, sessionPresent, got } = await connectAck(n3, opts);
  assert.equal(sessionPresent, true);
  await until(() => got.length >= 3, "the three QoS 0 messages published while away");
  assert.deepEqual(got.map((m) => m.payload), ["m0", "m1", "m2"]);
  await Promise.all([back.endAsync(), pub.endAsync()]);
});
