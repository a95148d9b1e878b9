/**
 * The MQTT gateway with real clients against one real node: MQTT.js (3.1.1 and 5) and the
 * Debian `mosquitto_pub`/`mosquitto_sub`, the refusals over a raw socket, HTTP and MQTT reaching
 * each other.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import mqtt from "mqtt";
import mqttPacket from "mqtt-packet";
import { collect, connect, mqttNodes, rawExchange, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
const api = nodes.url("n1");
addEventListener("unload", () => nodes.stop());

const v5connect = (clientId: string) =>
  mqttPacket.generate({ cmd: "connect", protocolVersion: 5, clientId, clean: true, keepalive: 0 });

for (const protocolVersion of [4, 5] as const) {
  Deno.test(`MQTT.js v${protocolVersion}: QoS 0/1/2 publishes reach a wildcard subscriber, each once`, async () => {
    const sub = await connect(port, { protocolVersion, clientId: `sub-${protocolVersion}` });
    const got = collect(sub);
    const granted = await sub.subscribeAsync({ [`v${protocolVersion}/+/x`]: { qos: 1 } });
    assert.deepEqual(granted.map((g) => g.qos), [1]);
    const pub = await connect(port, { protocolVersion });
    await pub.publishAsync(`v${protocolVersion}/a/x`, "zero", { qos: 0 });
    await pub.publishAsync(`v${protocolVersion}/b/x`, "one", { qos: 1 });
    await pub.publishAsync(`v${protocolVersion}/c.d/x`, Buffer.from([0xff, 0x00]), { qos: 2 });
    await pub.publishAsync(`v${protocolVersion}/c/y`, "no match", { qos: 1 });
    await until(() => got.length >= 3, "three messages");
    await pub.publishAsync(`v${protocolVersion}/z/x`, "last", { qos: 1 });
    await until(() => got.length >= 4, "the fourth");
    assert.deepEqual(got.map((m) => [m.topic, m.qos]).sort(), [
      [`v${protocolVersion}/a/x`, 0],
      [`v${protocolVersion}/b/x`, 1],
      [`v${protocolVersion}/c.d/x`, 1],
      [`v${protocolVersion}/z/x`, 1],
    ]);
    const bin = got.find((m) => m.topic.includes("c.d"))!;
    assert.equal(bin.payload, Buffer.from([0xff, 0x00]).toString());
    await pub.endAsync();
    await sub.endAsync();
  });
}

Deno.test("a QoS 2 PUBLISH sent again with the same packet id is applied once; after PUBCOMP the id is free", async () => {
  const sub = await connect(port, { clientId: "q2-sub" });
  const got = collect(sub);
  await sub.subscribeAsync({ "q2/#": { qos: 1 } });
  const publish = (payload: string, dup: boolean) =>
    mqttPacket.generate({
      cmd: "publish",
      topic: "q2/t",
      payload,
      qos: 2,
      dup,
      retain: false,
      messageId: 7,
    });
  const connectPkt = mqttPacket.generate({
    cmd: "connect",
    protocolVersion: 4,
    clientId: "q2-pub",
    clean: false,
    keepalive: 0,
  });
  const pubrel = mqttPacket.generate({ cmd: "pubrel", messageId: 7 });
  // Twice the same PUBLISH (a retry after a lost PUBREC), on two connections.
  await rawExchange(port, [connectPkt, publish("once", false)], 1500);
  await rawExchange(port, [connectPkt, publish("once", true), pubrel], 1500);
  // Packet id 7 again after PUBCOMP: a new message, even with the same payload.
  await rawExchange(port, [connectPkt, publish("once", false), pubrel], 1500);
  await until(() => got.length >= 2, "two messages");
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(got.map((m) => m.payload), ["once", "once"]);
  await sub.endAsync();
});

Deno.test("a QoS 2 PUBLISH sent again after its clean session ended is still applied once; another message on that packet id is applied", async () => {
  const sub = await connect(port, { clientId: "q2c-sub" });
  const got = collect(sub);
  await sub.subscribeAsync({ "q2c/#": { qos: 1 } });
  const connectPkt = mqttPacket.generate({
    cmd: "connect",
    protocolVersion: 4,
    clientId: "q2c-pub",
    clean: true,
    keepalive: 0,
  });
  const publish = (payload: string, dup: boolean) =>
    mqttPacket.generate({
      cmd: "publish",
      topic: "q2c/t",
      payload,
      qos: 2,
      dup,
      retain: false,
      messageId: 9,
    });
  // PUBREC lost with the link; the clean session ends with it; the client (MQTT.js does) sends
  // the PUBLISH again on its next connection.
  await rawExchange(port, [connectPkt, publish("first", false)], 1500);
  await rawExchange(port, [connectPkt, publish("first", true)], 1500);
  // A new message on packet id 9 (the client moved on): applied.
  await rawExchange(port, [connectPkt, publish("second", false)], 1500);
  await until(() => got.length >= 2, "two messages");
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(got.map((m) => m.payload), ["first", "second"]);
  await sub.endAsync();
});

Deno.test("HTTP publishers reach MQTT subscribers and MQTT publishers reach HTTP subscribers", async () => {
  const sub = await connect(port, { clientId: "http-bridge" });
  const got = collect(sub);
  await sub.subscribeAsync({ "from-http/#": { qos: 1 } });
  const res = await fetch(`${api}/v1/topics/mqtt/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ subject: "from-http.x", body: { n: 1 } }),
  });
  assert.equal(res.status, 201);
  await res.body?.cancel();
  await until(() => got.length === 1, "the HTTP message");
  assert.deepEqual(got[0], {
    topic: "from-http/x",
    payload: '{"n":1}',
    qos: 1,
    dup: false,
    retain: false,
  });
  const put = await fetch(`${api}/v1/topics/mqtt/subscriptions/http-side`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ filter: "to-http.>" }),
  });
  assert.ok(put.ok);
  await put.body?.cancel();
  await sub.publishAsync("to-http/a.b", '{"v":2}', { qos: 1 });
  const r = await fetch(`${api}/v1/topics/mqtt/subscriptions/http-side/receive`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ max: 10, waitMs: 5000 }),
  });
  const body = await r.json();
  assert.equal(body.messages.length, 1);
  assert.equal(body.messages[0].subject, "to-http.a%2Eb");
  assert.deepEqual(body.messages[0].body, { v: 2 });
  assert.equal(body.messages[0].headers["mqtt-payload"], "json");
  await sub.endAsync();
});

Deno.test("# does not match $ topics; $SYS/# does", async () => {
  const all = await connect(port, { clientId: "all" });
  const gotAll = collect(all);
  await all.subscribeAsync({ "#": { qos: 1 } });
  const sys = await connect(port, { clientId: "sys" });
  const gotSys = collect(sys);
  await sys.subscribeAsync({ "$SYS/#": { qos: 1 } });
  await sys.publishAsync("$SYS/load", "1", { qos: 1 });
  await sys.publishAsync("plain", "2", { qos: 1 });
  await until(() => gotSys.length >= 1 && gotAll.length >= 1, "both");
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(gotSys.map((m) => m.topic), ["$SYS/load"]);
  assert.deepEqual(gotAll.filter((m) => m.topic.startsWith("$")), []);
  await all.endAsync();
  await sys.endAsync();
});

Deno.test("a persistent session keeps its subscription and queued QoS 1 messages across a reconnect", async () => {
  const opts = { clientId: "persist-1", clean: false, protocolVersion: 4 as const };
  const a = await connect(port, opts);
  await a.subscribeAsync({ "persist/+": { qos: 1 } });
  await a.endAsync();
  const pub = await connect(port);
  for (let i = 0; i < 5; i++) await pub.publishAsync(`persist/${i}`, `m${i}`, { qos: 1 });
  await pub.endAsync();
  const b = mqtt.connect(`mqtt://127.0.0.1:${port}`, { ...opts, reconnectPeriod: 0 });
  const got = collect(b);
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    b.once("connect", resolve);
    b.once("error", reject);
  });
  assert.equal(connack.sessionPresent, true);
  await until(() => got.length >= 5, "5 queued messages");
  assert.deepEqual(got.map((m) => m.payload).sort(), ["m0", "m1", "m2", "m3", "m4"]);
  await b.endAsync();
  // A clean session of the same client id ends it.
  const c = await connect(port, { ...opts, clean: true });
  await c.endAsync();
  const sub = await fetch(`${api}/v1/topics/mqtt`);
  const topic = await sub.json();
  assert.equal(JSON.stringify(topic).includes("persist"), false);
});

Deno.test("MQTT 5: a session lives on only with a session expiry interval", async () => {
  const present = async (clientId: string, expiry: number | undefined) => {
    const properties = expiry === undefined
      ? {}
      : { properties: { sessionExpiryInterval: expiry } };
    const a = await connect(port, { clientId, protocolVersion: 5, clean: false, ...properties });
    await a.subscribeAsync({ "expiry/x": { qos: 1 } });
    await a.endAsync();
    const b = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      clientId,
      protocolVersion: 5,
      clean: false,
      reconnectPeriod: 0,
      ...properties,
    });
    const connack = await new Promise<{ sessionPresent: boolean }>((r) => b.once("connect", r));
    await b.endAsync();
    return connack.sessionPresent;
  };
  assert.equal(await present("expiry-0", undefined), false);
  assert.equal(await present("expiry-3600", 3600), true);
});

Deno.test("$share/group/filter: each message goes to one member of the group; others subscribe apart", async () => {
  const members = await Promise.all(
    ["m1", "m2"].map((id) => connect(port, { clientId: `share-${id}` })),
  );
  const got = members.map(collect);
  for (const m of members) {
    const granted = await m.subscribeAsync({ "$share/workers/jobs/+": { qos: 1 } });
    assert.deepEqual(granted.map((g) => g.qos), [1]);
  }
  const solo = await connect(port, { clientId: "share-solo" });
  const soloGot = collect(solo);
  await solo.subscribeAsync({ "jobs/#": { qos: 1 } });
  const pub = await connect(port);
  for (let i = 0; i < 40; i++) await pub.publishAsync(`jobs/${i % 4}`, `j${i}`, { qos: 1 });
  const all = () => [...got[0], ...got[1]].map((m) => m.payload);
  await until(() => all().length >= 40 && soloGot.length >= 40, "40 to the group and 40 to solo");
  await new Promise((r) => setTimeout(r, 300));
  const want = Array.from({ length: 40 }, (_, i) => `j${i}`).sort();
  assert.deepEqual(all().sort(), want);
  assert.deepEqual(soloGot.map((m) => m.payload).sort(), want);
  // No filter after the group: SUBACK 0x80 (MQTT.js rejects on it).
  await assert.rejects(members[0].subscribeAsync({ "$share/bad": { qos: 1 } }), /Unspecified/);
  await Promise.all([...members, solo, pub].map((c) => c.endAsync()));
});

Deno.test("MQTT 5 receive maximum: no more unacknowledged QoS 1 deliveries than the client allows", async () => {
  const connectPkt = mqttPacket.generate({
    cmd: "connect",
    protocolVersion: 5,
    clientId: "slow",
    clean: true,
    keepalive: 0,
    properties: { receiveMaximum: 2 },
  });
  const subscribe = mqttPacket.generate({
    cmd: "subscribe",
    messageId: 1,
    subscriptions: [{ topic: "rmax/#", qos: 1 }],
  }, { protocolVersion: 5 });
  // The raw client never PUBACKs; it reads for 3 s while 6 messages are published.
  const reading = rawExchange(port, [connectPkt, subscribe], 3000);
  await new Promise((r) => setTimeout(r, 500));
  const pub = await connect(port);
  for (let i = 0; i < 6; i++) await pub.publishAsync(`rmax/${i}`, `r${i}`, { qos: 1 });
  const { bytes } = await reading;
  const cmds: string[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  parser.on("packet", (p: { cmd: string }) => cmds.push(p.cmd));
  parser.parse(Buffer.from(bytes));
  assert.deepEqual(cmds, ["connack", "suback", "publish", "publish"]);
  await pub.endAsync();
});

Deno.test("MQTT 5 topic aliases from the client name the topic of later PUBLISHes", async () => {
  const sub = await connect(port, { clientId: "alias-sub" });
  const got = collect(sub);
  await sub.subscribeAsync({ "alias/#": { qos: 1 } });
  const publish = (topic: string, payload: string) =>
    mqttPacket.generate({
      cmd: "publish",
      topic,
      payload,
      qos: 0,
      dup: false,
      retain: false,
      properties: { topicAlias: 5 },
    }, { protocolVersion: 5 });
  const r = await rawExchange(port, [
    v5connect("alias-pub"),
    publish("alias/long/topic/name", "a0"),
    publish("", "a1"),
    mqttPacket.generate({ cmd: "disconnect", reasonCode: 0 }, { protocolVersion: 5 }),
  ]);
  const cmds: { cmd: string; properties?: { topicAliasMaximum?: number } }[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  parser.on("packet", (p) => void cmds.push(p as (typeof cmds)[number]));
  parser.parse(Buffer.from(r.bytes));
  assert.equal(cmds[0].properties?.topicAliasMaximum, 64);
  await until(() => got.length >= 2, "2 messages");
  assert.deepEqual(got.map((m) => [m.topic, m.payload]), [
    ["alias/long/topic/name", "a0"],
    ["alias/long/topic/name", "a1"],
  ]);
  await sub.endAsync();
});

Deno.test("MQTT 5 message expiry: a message past its interval is not delivered to a session that was away", async () => {
  const opts = { clientId: "expiry-away", protocolVersion: 5 as const, clean: false };
  const props = { properties: { sessionExpiryInterval: 3600 } };
  const a = await connect(port, { ...opts, ...props });
  await a.subscribeAsync({ "mexp/#": { qos: 1 } });
  await a.endAsync();
  const pub = await connect(port, { protocolVersion: 5 });
  await pub.publishAsync("mexp/short", "gone", {
    qos: 1,
    properties: { messageExpiryInterval: 1 },
  });
  await pub.publishAsync("mexp/long", "kept", {
    qos: 1,
    properties: { messageExpiryInterval: 600 },
  });
  await pub.endAsync();
  // Past the 1 s interval in entry time (the leader ticks while a TTL is due).
  await new Promise((r) => setTimeout(r, 2500));
  const b = mqtt.connect(`mqtt://127.0.0.1:${port}`, { ...opts, ...props, reconnectPeriod: 0 });
  const got = collect(b);
  await until(() => got.length >= 1, "the kept message");
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(got.map((m) => m.payload), ["kept"]);
  await b.endAsync();
});

Deno.test("MQTT over WebSocket at /mqtt on the HTTP listener reaches TCP clients", async () => {
  const tcp = await connect(port, { clientId: "ws-peer" });
  const got = collect(tcp);
  await tcp.subscribeAsync({ "ws/#": { qos: 1 } });
  const ws = await mqtt.connectAsync(`${api.replace("http", "ws")}/mqtt`, {
    reconnectPeriod: 0,
    protocolVersion: 5,
  });
  await ws.publishAsync("ws/hello", "over websocket", { qos: 1 });
  await until(() => got.length === 1, "the WebSocket client's message");
  assert.equal(got[0].payload, "over websocket");
  await ws.endAsync();
  await tcp.endAsync();
});

Deno.test("the Last Will is published on an unclean end, not after DISCONNECT", async () => {
  const watcher = await connect(port, { clientId: "will-watcher" });
  const got = collect(watcher);
  await watcher.subscribeAsync({ "wills/#": { qos: 1 } });
  const will = (topic: string) => ({ topic, payload: "gone", qos: 1 as const, retain: false });
  const polite = await connect(port, { clientId: "polite", will: will("wills/polite") });
  await polite.endAsync();
  const dropped = await connect(port, { clientId: "dropped", will: will("wills/dropped") });
  dropped.stream.destroy(); // the link breaks: no DISCONNECT
  await until(() => got.length >= 1, "the will");
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(got.map((m) => [m.topic, m.payload]), [["wills/dropped", "gone"]]);
  assert.match(nodes.logs("n1"), /mqtt_will_published/);
  dropped.end(true);
  await watcher.endAsync();
});

Deno.test("the same client id connecting again takes over: the old connection gets DISCONNECT 0x8E", async () => {
  const first = await connect(port, { clientId: "twin", protocolVersion: 5, clean: true });
  const reason = new Promise<number | undefined>((r) =>
    first.once("disconnect", (p) => r(p.reasonCode))
  );
  const second = await connect(port, { clientId: "twin", protocolVersion: 5, clean: false });
  assert.equal(await reason, 0x8e);
  const got = collect(second);
  await second.subscribeAsync({ "twin/+": { qos: 1 } });
  await second.publishAsync("twin/a", "to the new one", { qos: 1 });
  await until(() => got.length === 1, "the message on the new connection");
  first.end(true);
  await second.endAsync();
});

Deno.test("refusals close the connection with their reason and the node stays up", async () => {
  // An unknown protocol level: CONNACK return code 1.
  const badLevel = Buffer.from(v5connect("x"));
  badLevel[8] = 9; // the protocol level byte after the length and "MQTT"
  const r1 = await rawExchange(port, [badLevel]);
  assert.deepEqual([...r1.bytes], [0x20, 0x02, 0x00, 0x01]);
  assert.equal(r1.closed, true);
  // A second CONNECT (v5): CONNACK, then DISCONNECT 0x82.
  const r2 = await rawExchange(port, [v5connect("twice"), v5connect("twice")]);
  const parsed: { cmd: string; reasonCode?: number }[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  parser.on("packet", (p: { cmd: string; reasonCode?: number }) => parsed.push(p));
  parser.parse(Buffer.from(r2.bytes));
  assert.deepEqual(parsed.map((p) => [p.cmd, p.reasonCode]), [["connack", 0], [
    "disconnect",
    0x82,
  ]]);
  assert.equal(r2.closed, true);
  // Garbage: closed.
  const r3 = await rawExchange(port, [new Uint8Array([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f])]);
  assert.equal(r3.closed, true);
  // Oversized (the default bound is 1 MiB): DISCONNECT 0x95.
  const big = mqttPacket.generate({
    cmd: "publish",
    topic: "big",
    payload: Buffer.alloc(1_100_000),
    qos: 0,
    dup: false,
    retain: false,
  }, { protocolVersion: 5 });
  const r4 = await rawExchange(port, [v5connect("big"), big]);
  const p4: { cmd: string; reasonCode?: number }[] = [];
  const parser4 = mqttPacket.parser({ protocolVersion: 5 });
  parser4.on("packet", (p: { cmd: string; reasonCode?: number }) => p4.push(p));
  parser4.parse(Buffer.from(r4.bytes));
  assert.deepEqual(p4.map((p) => [p.cmd, p.reasonCode]), [["connack", 0], ["disconnect", 0x95]]);
  // Still serving.
  const ok = await connect(port);
  await ok.endAsync();
  assert.match(nodes.logs("n1"), /mqtt_connection_closed/);
});

Deno.test("mosquitto_pub and mosquitto_sub talk to the gateway", async () => {
  const found = await new Deno.Command("sh", { args: ["-c", "command -v mosquitto_sub"] }).output();
  if (!found.success) {
    console.log("skipped: mosquitto-clients is not installed (apt-get install mosquitto-clients)");
    return;
  }
  const sub = new Deno.Command("mosquitto_sub", {
    args: ["-p", String(port), "-t", "mosq/#", "-q", "1", "-C", "2", "-v", "-W", "20"],
    stdout: "piped",
  }).spawn();
  // mosquitto_sub has no "subscribed" signal: publish until the subscription sees messages.
  const out = sub.output();
  let done = false;
  out.finally(() => done = true);
  for (let i = 0; i < 100 && !done; i++) {
    await new Deno.Command("mosquitto_pub", {
      args: ["-p", String(port), "-t", `mosq/t${i}`, "-m", `hello ${i}`, "-q", "2"],
    }).output();
    await new Promise((r) => setTimeout(r, 100));
  }
  const text = new TextDecoder().decode((await out).stdout);
  const lines = text.trim().split("\n");
  assert.equal(lines.length, 2);
  for (const l of lines) assert.match(l, /^mosq\/t(\d+) hello \1$/);
});
