/**
 * MQTT through a SIGKILL: 3 real nodes (fsync), a persistent QoS 1 subscriber and a QoS 2
 * publisher (MQTT.js, 32 in flight) both connected to a follower, which is killed mid-stream. Both
 * reconnect to the other nodes and go on. Every message must reach the subscriber (0 lost), and
 * the topic's log must hold each QoS 2 message exactly once (0 duplicated), though PUBLISHes in
 * flight at the kill were sent again, to another node. And a session held on a node that was
 * SIGKILLed ends (its expiry runs) once that node is back and releases what its earlier run held.
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt";
import { keepEveryMessage, mqttNodes, until } from "./mqtt_client.ts";

const MESSAGES = 200;
const KILL_AFTER = 60;
const IN_FLIGHT = 32;

Deno.test("a QoS 2 publisher and a persistent QoS 1 subscriber keep going through a SIGKILL of their node", async () => {
  const { nodes, mqttPort } = await mqttNodes({ count: 3, storage: "fsync" });
  try {
    // Connected to a follower: its writes go to the leader and back, the widest window in which
    // a publish is committed and its PUBREC not yet sent when the node dies.
    const leader = await nodes.waitLeader();
    const victim = nodes.ids.find((id) => id !== leader)!;
    const order = [victim, ...nodes.ids.filter((id) => id !== victim)];
    // The checks read the topic's log as the record of what was published: keep every message
    // (the gateway leaves a topic given a retention as it is; its own is interest retention).
    await keepEveryMessage(nodes.url(leader));
    const servers = order.map((id) => ({ host: "127.0.0.1", port: mqttPort(id) }));
    const common = { servers, reconnectPeriod: 300, connectTimeout: 5000, clean: false };
    const sub = mqtt.connect({ ...common, clientId: "failover-sub", protocolVersion: 4 });
    const seen = new Map<string, number>();
    sub.on("message", (_t, payload) => {
      const k = payload.toString();
      seen.set(k, (seen.get(k) ?? 0) + 1);
    });
    await new Promise((r) => sub.once("connect", r));
    await sub.subscribeAsync({ "plant/+/reading": { qos: 1 } });
    const pub = mqtt.connect({ ...common, clientId: "failover-pub", protocolVersion: 5 });
    await new Promise((r) => pub.once("connect", r));

    let completed = 0;
    let killed: Promise<void> | undefined;
    let next = 0;
    const worker = async () => {
      while (next < MESSAGES) {
        const i = next++;
        // Resolves at PUBCOMP, however many reconnects that takes (MQTT.js resends in flight).
        await pub.publishAsync(`plant/${i % 5}/reading`, `m${i}`, { qos: 2 });
        completed++;
        if (completed === KILL_AFTER) killed = nodes.kill(victim);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    await killed;
    await until(() => seen.size >= MESSAGES, `all ${MESSAGES} at the subscriber`, 60_000);
    const lost = Array.from({ length: MESSAGES }, (_, i) => `m${i}`).filter((k) => !seen.has(k));
    assert.deepEqual(lost, []);

    // The log: each QoS 2 message exactly once.
    const survivor = order[1];
    const inLog = new Map<string, number>();
    let from = 1;
    for (let page = 0; page < 100; page++) {
      const res = await fetch(`${nodes.url(survivor)}/v1/topics/mqtt/messages?fromSeq=${from}`);
      const body = await res.json();
      for (const m of body.messages) inLog.set(m.body, (inLog.get(m.body) ?? 0) + 1);
      if (body.messages.length === 0 || body.nextSeq === undefined) break;
      from = body.nextSeq;
    }
    const duplicated = [...inLog].filter(([, n]) => n > 1);
    assert.deepEqual(duplicated, []);
    assert.equal(inLog.size, MESSAGES);
    const redelivered = [...seen.values()].filter((n) => n > 1).length;
    console.log(
      `kill after ${KILL_AFTER}: 0 lost, 0 applied twice, ${redelivered} QoS 1 redeliveries`,
    );
    await Promise.all([pub.endAsync(true), sub.endAsync(true)]);
  } finally {
    await nodes.stop();
  }
});

Deno.test("a session whose node was SIGKILLed expires once that node is back (it releases what its earlier run held)", async () => {
  const { nodes, mqttPort } = await mqttNodes({ count: 3, storage: "fsync" });
  try {
    const leader = await nodes.waitLeader();
    const victim = nodes.ids.find((id) => id !== leader)!;
    const { sessionKey } = await import("../../src/mqtt/session.ts");
    const claim = async () => {
      const res = await fetch(
        `${nodes.url(leader)}/v1/topics/mqtt/claims/${
          sessionKey({ clientId: "orphan", principal: undefined })
        }`,
      );
      return res.status === 200 ? await res.json() : (await res.body?.cancel(), undefined);
    };
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort(victim)}`, {
      clientId: "orphan",
      protocolVersion: 5,
      clean: false,
      reconnectPeriod: 0,
      properties: { sessionExpiryInterval: 1 },
    });
    await c.subscribeAsync({ "orphan/#": { qos: 1 } });
    await nodes.kill(victim);
    c.end(true);
    // Nobody released it: held by the dead connection for as long as its node is down.
    await until(async () => (await claim())?.holder?.startsWith(`${victim}/`) === true, "held");
    nodes.spawn(victim);
    await until(async () => (await claim()) === undefined, "the session's end", 60_000);
  } finally {
    await nodes.stop();
  }
});
