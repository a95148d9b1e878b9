/**
 * MQTT with `--auth-file` on a 3-node cluster (fsync): clients on a follower, whose writes go to
 * the leader; a node SIGKILLed with sessions on it releases them when it is back (so their
 * expiry runs), as the gateway itself.
 *
 * @module
 */

import assert from "node:assert/strict";
import { collect, connect, mqttNodes, until } from "./mqtt_client.ts";
import { sessionKey } from "../../src/mqtt/session.ts";

const ADMIN = "admin-token-1";

async function authCluster() {
  const dir = await Deno.makeTempDir({ prefix: "mqtt-auth-cluster-" });
  const authFile = `${dir}/auth.json`;
  await Deno.writeTextFile(
    authFile,
    JSON.stringify({
      tokens: [
        { name: "admin", token: ADMIN, publish: ["*"], consume: ["*"], admin: ["*"] },
        // Rights on MQTT topics only, none on the quorumq topic `mqtt`.
        {
          name: "sensor-a",
          token: "sensor-a-token-1",
          publish: ["mqtt:plant/*"],
          consume: ["mqtt:plant/#"],
        },
        {
          name: "sensor-b",
          token: "sensor-b-token-1",
          publish: ["mqtt:plant/*"],
          consume: ["mqtt:plant/#"],
        },
      ],
    }),
  );
  const { nodes, mqttPort } = await mqttNodes({
    count: 3,
    storage: "fsync",
    extraArgs: ["--auth-file", authFile],
    adminToken: ADMIN,
  });
  const leader = await nodes.waitLeader();
  const follower = nodes.ids.find((id) => id !== leader)!;
  // The devices' tokens may not create the MQTT topic (`admin`): the operator does.
  const created = await fetch(`${nodes.url(leader)}/v1/topics/mqtt`, {
    method: "PUT",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: "{}",
  });
  assert.ok(created.ok, `PUT /v1/topics/mqtt: ${created.status}`);
  await created.body?.cancel();
  // deno-lint-ignore no-explicit-any
  const claim = async (clientId: string): Promise<any> => {
    const res = await fetch(
      `${nodes.url(leader)}/v1/topics/mqtt/claims/${sessionKey(clientId)}`,
      { headers: { authorization: `Bearer ${ADMIN}` } },
    );
    return res.status === 200 ? await res.json() : (await res.body?.cancel(), undefined);
  };
  const stop = async () => {
    await nodes.stop();
    await Deno.remove(dir, { recursive: true });
  };
  return { nodes, mqttPort, leader, follower, claim, stop };
}

const A = { username: "a", password: "sensor-a-token-1" };

Deno.test("auth on, a cluster: a session held on a SIGKILLed follower ends once it is back (the gateway releases it as itself)", async () => {
  const { nodes, mqttPort, follower, claim, stop } = await authCluster();
  try {
    const c = await connect(mqttPort(follower), {
      ...A,
      clientId: "orphan-a",
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    await c.subscribeAsync({ "plant/#": { qos: 1 } });
    const got = collect(c);
    await c.publishAsync("plant/1/temp", "21.5", { qos: 1 });
    await until(() => got.length === 1, "the message back through the follower");
    assert.deepEqual([got[0].topic, got[0].payload], ["plant/1/temp", "21.5"]);
    await nodes.kill(follower);
    c.end(true);
    await until(async () => (await claim("orphan-a"))?.holder !== null, "held");
    assert.ok((await claim("orphan-a")).holder.startsWith(`${follower}/`));
    nodes.spawn(follower);
    await until(
      async () => (await claim("orphan-a")) === undefined,
      "the session's end",
      60_000,
    );
    // The gateway's proof is the cluster secret's: a client on the network cannot make one.
    const forged = await fetch(
      `${nodes.url(follower)}/v1/topics/mqtt/claims/${sessionKey("x")}/release`,
      {
        method: "POST",
        headers: { "x-quorumq-gateway-proof": "00".repeat(32), "content-type": "application/json" },
        body: JSON.stringify({ holder: "x" }),
      },
    );
    assert.equal(forged.status, 401);
    await forged.body?.cancel();
  } finally {
    await stop();
  }
});
