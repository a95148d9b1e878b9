/**
 * HTTP publishers may put any subject on the MQTT topic, and some of them map to no MQTT topic
 * name a client may be sent: empty (`%`), with a wildcard (`a.+`), a NUL, a control character or
 * a noncharacter. Such a message is not for MQTT sessions (as a `$` topic is not for a first-level
 * wildcard): a persistent session's client, sent one, closed its connection and was sent the same
 * message on every reconnect (mosquitto_sub: "A network protocol error occurred"), so nothing
 * after it ever reached it. And an MQTT PUBLISH to such a topic name is refused, as mosquitto
 * refuses it, instead of being delivered to subscribers that cannot take it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { collect, connect, mqttNodes, rawClient, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
const api = nodes.url("n1");
addEventListener("unload", () => nodes.stop());

/** Subjects of no valid MQTT topic name, each after the prefix `p.` (but `%`, the empty one). */
const BAD = ["%", "+", "#", "x\u0000y", "x\u0001y", "x\u007fy", "x\u009fy", "x\ufffey", "\ufdd0"];

async function httpPublish(subject: string, body: string, retain = false): Promise<void> {
  const res = await fetch(`${api}/v1/topics/mqtt/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ subject, body, ...(retain ? { retain: "set" } : {}) }),
  });
  assert.equal(res.status, 201, await res.text());
}

const mosquittoFound = (await new Deno.Command("sh", {
  args: ["-c", "command -v mosquitto_sub"],
}).output()).success;

/** mosquitto_sub with a persistent session: until `count` messages, or (0) until SUBACK. */
async function mosquittoSub(clientId: string, topic: string, count: number): Promise<string> {
  const out = await new Deno.Command("mosquitto_sub", {
    args: ["-p", `${port}`, "-i", clientId, "-c", "-q", "1", "-t", topic, "-W"]
      .concat(["10", "-F", "%t %p"], count === 0 ? ["-E"] : ["-C", `${count}`]),
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).trim() + new TextDecoder().decode(out.stderr).trim();
}

Deno.test("a persistent mosquitto_sub session gets the messages after one whose subject is no MQTT topic name", async () => {
  if (!mosquittoFound) {
    console.log("skipped: mosquitto-clients is not installed (apt-get install mosquitto-clients)");
    return;
  }
  // CONNECT and SUBSCRIBE make the persistent session (and the MQTT topic).
  assert.equal(await mosquittoSub("wedge", "#", 0), "");
  await httpPublish("%", "bad");
  await httpPublish("after.one", "good");
  assert.equal(await mosquittoSub("wedge", "#", 1), 'after/one "good"');
});

for (const protocolVersion of [4, 5] as const) {
  Deno.test(`MQTT.js v${protocolVersion}: only valid topic names are delivered, live and retained`, async () => {
    const prefix = `tn${protocolVersion}`;
    const sub = await connect(port, { protocolVersion, clientId: `${prefix}-sub`, clean: false });
    const got = collect(sub);
    await sub.subscribeAsync({ "#": { qos: 1 } });
    for (const s of BAD) await httpPublish(s === "%" ? s : `${prefix}.${s}`, "bad", true);
    await httpPublish(`${prefix}.good`, "good", true);
    await until(() => got.some((m) => m.topic === `${prefix}/good`), "the good message");
    assert.deepEqual(got.filter((m) => m.topic.startsWith(prefix) || m.topic === ""), [
      { topic: `${prefix}/good`, payload: '"good"', qos: 1, dup: false, retain: false },
    ]);
    // A new subscription's retained messages: the valid ones only.
    const late = await connect(port, { protocolVersion, clientId: `${prefix}-late` });
    const lateGot = collect(late);
    await late.subscribeAsync({ [`${prefix}/#`]: { qos: 1 } });
    await late.subscribeAsync({ "+": { qos: 1 } });
    await httpPublish(`${prefix}.end`, "end");
    await until(() => lateGot.some((m) => m.topic === `${prefix}/end`), "the last message");
    assert.deepEqual(lateGot.map((m) => m.topic).sort(), [`${prefix}/end`, `${prefix}/good`]);
    await Promise.all([sub.endAsync(), late.endAsync()]);
  });
}

Deno.test("a PUBLISH to a topic name with a control character or a noncharacter is refused (v5: DISCONNECT 0x90)", async () => {
  for (const topic of ["cc/x\u0001y", "cc/\u0085", "cc/x\uffffy", "cc/\ufdef"]) {
    const c = await rawClient(port, 5);
    await c.send({
      cmd: "connect",
      protocolVersion: 5,
      clientId: "cc-pub",
      clean: true,
      keepalive: 0,
    });
    await until(() => c.packets().some((p) => p.cmd === "connack"), "CONNACK");
    await c.send({
      cmd: "publish",
      topic,
      payload: "x",
      qos: 1,
      messageId: 1,
      dup: false,
      retain: false,
    });
    await until(() => c.closed(), `${JSON.stringify(topic)}: the connection closed`);
    const answers = c.packets().filter((p) => p.cmd === "disconnect" || p.cmd === "puback");
    assert.deepEqual(answers.map((p) => [p.cmd, (p as { reasonCode?: number }).reasonCode]), [
      ["disconnect", 0x90],
    ], JSON.stringify(topic));
    await c.close();
  }
});
