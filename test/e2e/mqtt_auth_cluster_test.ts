/**
 * MQTT with `--auth-file` on a 3-node cluster (fsync): clients on a follower, whose writes go to
 * the leader; a node SIGKILLed with sessions on it releases them when it is back (so their
 * expiry runs), as the gateway itself; and a client id is its token's: the same id under another
 * token is another session, which neither resumes nor ends the first one's.
 *
 * @module
 */

import assert from "node:assert/strict";
import { collect, connect, connectAck, mqttNodes, until } from "./mqtt_client.ts";
import { sessionKey } from "../../src/mqtt/mod.ts";

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
  const claim = async (clientId: string, principal: string): Promise<any> => {
    const res = await fetch(
      `${nodes.url(leader)}/v1/topics/mqtt/claims/${sessionKey({ clientId, principal })}`,
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
const B = { username: "b", password: "sensor-b-token-1" };

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
    await until(async () => (await claim("orphan-a", "sensor-a"))?.holder !== null, "held");
    assert.ok((await claim("orphan-a", "sensor-a")).holder.startsWith(`${follower}/`));
    nodes.spawn(follower);
    await until(
      async () => (await claim("orphan-a", "sensor-a")) === undefined,
      "the session's end",
      60_000,
    );
    // The gateway's proof is the cluster secret's: a client on the network cannot make one.
    const forged = await fetch(
      `${nodes.url(follower)}/v1/topics/mqtt/claims/${
        sessionKey({ clientId: "x", principal: "sensor-a" })
      }/release`,
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

Deno.test("auth on: a client id is its token's; the same id under another token neither resumes nor takes over the session", async () => {
  const { nodes, mqttPort, leader, follower, claim, stop } = await authCluster();
  const other = nodes.ids.find((id) => id !== leader && id !== follower)!;
  const persistent = {
    clientId: "device-1",
    protocolVersion: 5 as const,
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
  };
  try {
    // Token A's session, with a message queued for it while it is away.
    const a1 = await connect(mqttPort(follower), { ...A, ...persistent });
    await a1.subscribeAsync({ "plant/#": { qos: 1 } });
    await a1.endAsync();
    const pub = await connect(mqttPort(leader), { ...A, clientId: "publisher" });
    await pub.publishAsync("plant/2/temp", "queued-for-a", { qos: 1 });
    await pub.endAsync();

    // Token B with the same client id, on another node: a session of its own, not A's.
    const { client: b, sessionPresent: presentB, got: gotB } = await connectAck(mqttPort(other), {
      ...B,
      ...persistent,
    });
    assert.equal(presentB, false, "B resumed no session");
    const heldA = (await claim("device-1", "sensor-a"))?.holder;
    const heldB = (await claim("device-1", "sensor-b"))?.holder;
    assert.equal(heldA, null, "A's session is still its own, released and waiting");
    assert.ok(typeof heldB === "string" && heldB.startsWith(`${other}/`));

    // A connects again while B is connected: its session is present, with the queued message,
    // and B's connection is not taken over.
    // Collected from the CONNACK on: the queued message may come in the same read as it.
    const { client: a2, sessionPresent: presentA, got: gotA } = await connectAck(
      mqttPort(leader),
      { ...A, ...persistent },
    );
    assert.equal(presentA, true, "A resumed its session");
    await until(() => gotA.length === 1, "A's queued message");
    assert.deepEqual([gotA[0].topic, gotA[0].payload], ["plant/2/temp", "queued-for-a"]);
    assert.equal((await claim("device-1", "sensor-b"))?.holder, heldB);
    assert.ok(b.connected);
    await b.subscribeAsync({ "plant/#": { qos: 1 } });
    await a2.publishAsync("plant/3/temp", "to-both", { qos: 1 });
    await until(() => gotB.length === 1 && gotA.length === 2, "the message at both sessions");
    assert.deepEqual(gotB.map((m) => m.payload), ["to-both"]);
    await Promise.all([a2.endAsync(), b.endAsync()]);
  } finally {
    await stop();
  }
});
