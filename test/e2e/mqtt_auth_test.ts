/**
 * MQTT with `--auth-file`: the CONNECT password carries a bearer token, checked by the HTTP API's
 * own authenticator; a wrong one is CONNACK "not authorized" (v3.1.1: 5, v5: 0x87).
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt";
import { collect, connect, mqttNodes, until } from "./mqtt_client.ts";

Deno.test("MQTT: a bearer token as the password connects; a wrong one is not authorized", async () => {
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
  try {
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
  } finally {
    await nodes.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
