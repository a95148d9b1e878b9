/**
 * MQTT with `--auth-file`: the CONNECT password carries a bearer token, checked by the HTTP API's
 * own authenticator; a wrong one is CONNACK "not authorized" (v3.1.1: 5, v5: 0x87). `mqtt:`
 * patterns allow MQTT topics one by one: PUBLISH elsewhere is PUBACK 0x87 (v5) or dropped
 * (v3.1.1), SUBSCRIBE elsewhere SUBACK 0x87/0x80, a will elsewhere refuses the CONNECT.
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt";
import { collect, connect, mqttNodes, until } from "./mqtt_client.ts";

const dir = await Deno.makeTempDir({ prefix: "mqtt-auth-" });
const authFile = `${dir}/auth.json`;
await Deno.writeTextFile(
  authFile,
  JSON.stringify({
    tokens: [{
      name: "device",
      token: "device-token-1",
      publish: ["*"],
      consume: ["*"],
      admin: ["*"],
    }, {
      name: "sensor",
      token: "sensor-token-1",
      publish: ["mqtt:sensors/*"],
      consume: ["mqtt:sensors/#", "mqtt:cmd/sensor-1"],
    }, {
      name: "publish-only",
      token: "publish-only-token-1",
      publish: ["mqtt:sensors/*"],
    }],
  }),
);
const { nodes, mqttPort } = await mqttNodes({
  count: 1,
  storage: "memory",
  extraArgs: ["--auth-file", authFile],
  adminToken: "device-token-1",
});
const port = mqttPort("n1");
addEventListener("unload", () => {
  nodes.stop();
  Deno.removeSync(dir, { recursive: true });
});
const opts = { username: "device", password: "device-token-1" };

Deno.test("MQTT: a bearer token as the password connects; a wrong one is not authorized", async () => {
  for (const protocolVersion of [4, 5] as const) {
    const refused = await new Promise<{ code: unknown }>((resolve) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
        protocolVersion,
        reconnectPeriod: 0,
        username: "device",
        password: "not-the-token",
      });
      c.once("error", (e) => {
        c.end(true);
        resolve({ code: (e as { code?: unknown }).code });
      });
    });
    assert.equal(refused.code, protocolVersion === 5 ? 0x87 : 5);
  }
  const opts = { username: "device", password: "device-token-1" };
  const sub = await connect(port, { ...opts, clientId: "authed-sub" });
  const got = collect(sub);
  await sub.subscribeAsync({ "secure/#": { qos: 1 } });
  const pub = await connect(port, { ...opts, protocolVersion: 5 });
  await pub.publishAsync("secure/a", "ok", { qos: 1 });
  await until(() => got.length === 1, "the message");
  assert.equal(got[0].payload, "ok");

  await pub.endAsync();
  await sub.endAsync();
});

Deno.test("MQTT: mqtt: patterns allow topics one by one (PUBLISH, SUBSCRIBE, the will)", async () => {
  const sub = await connect(port, { ...opts, clientId: "authed-sub-2" });
  const got = collect(sub);
  const pub = await connect(port, { ...opts, protocolVersion: 5 });
  await pub.publishAsync("secure/a", "ok", { qos: 1 });
  // Per MQTT topic: the sensor token publishes under sensors/ and subscribes to its filters.
  await sub.subscribeAsync({ "sensors/#": { qos: 1 }, "other/#": { qos: 1 } });
  const sensor = { username: "s", password: "sensor-token-1" };
  const s5 = await connect(port, { ...sensor, protocolVersion: 5, clientId: "sensor-1" });
  await s5.publishAsync("sensors/t1", "21.5", { qos: 1 });
  await assert.rejects(s5.publishAsync("other/t1", "no", { qos: 1 }), /Not authorized/i);
  const granted = await s5.subscribeAsync({
    "sensors/#": { qos: 1 },
    "cmd/sensor-1": { qos: 0 },
  });
  assert.deepEqual(granted.map((g) => g.qos), [1, 0]);
  await assert.rejects(s5.subscribeAsync({ "other/#": { qos: 1 } }), /Not authorized/i);
  const s4 = await connect(port, { ...sensor, protocolVersion: 4, clientId: "sensor-2" });
  await s4.publishAsync("other/t2", "dropped", { qos: 1 }); // v3.1.1: acknowledged, dropped
  await s4.publishAsync("sensors/t2", "22.0", { qos: 1 });
  await until(() => got.length === 2, "the sensors' messages");
  assert.deepEqual(got.map((m) => [m.topic, m.payload]), [
    ["sensors/t1", "21.5"],
    ["sensors/t2", "22.0"],
  ]);
  // A will to a topic the token may not publish to: the CONNECT is refused.
  const willRefused = await new Promise<unknown>((resolve) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      ...sensor,
      protocolVersion: 5,
      reconnectPeriod: 0,
      will: { topic: "other/will", payload: "x", qos: 0, retain: false },
    });
    c.once("error", (e) => {
      c.end(true);
      resolve((e as { code?: unknown }).code);
    });
  });
  assert.equal(willRefused, 0x87);
  // A token that may only publish still has a session (its claim is the gateway's own doing)
  // and may not subscribe.
  const device = { username: "d", password: "publish-only-token-1", protocolVersion: 5 as const };
  const only = await connect(port, { ...device, clientId: "publish-only-1" });
  await only.publishAsync("sensors/t3", "23.0", { qos: 1 });
  await assert.rejects(only.subscribeAsync({ "sensors/#": { qos: 1 } }), /Not authorized/i);
  await until(() => got.length === 3, "the publish-only device's message");
  assert.deepEqual([got[2].topic, got[2].payload], ["sensors/t3", "23.0"]);
  await only.endAsync();
  await Promise.all([s5.endAsync(), s4.endAsync(), pub.endAsync(), sub.endAsync()]);
});
