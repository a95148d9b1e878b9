/**
 * FINDINGS.md F11 (fixed): a QoS 2 PUBLISH applied twice. A follower cut off from the others (Raft
 * messages only, through the fault seam) knows no leader, so its gateway's batch publish answers
 * 503 and `BrokerApi.write` retries it for up to 15 s. Meanwhile the client's connection ends; it
 * reconnects to the leader, sends the same PUBLISH again (applied there, PUBREC) and PUBREL (the
 * slot is freed). Healed, the follower forwards its retry, which finds the slot free and applies
 * the message a second time. The topic's log must hold it once.
 *
 * Fixed by the holder fence (docs/broker.md, "Holder fence"): the retry names the connection that
 * sent it, which no longer holds the session, so the state machine refuses it (`session_moved`).
 * It failed on the code that found it ("the message is in the log 2 times", 3 runs of 3).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Packet } from "mqtt-packet";
import { keepEveryMessage, mqttNodes, rawClient, until } from "../e2e/mqtt_client.ts";
import type { Nodes } from "../e2e/nodes.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function faults(nodes: Nodes, on: string, spec?: Record<string, unknown>) {
  const res = await fetch(`${nodes.url(on)}/v1/admin/faults`, {
    method: spec === undefined ? "DELETE" : "PUT",
    ...(spec === undefined
      ? {}
      : { headers: { "content-type": "application/json" }, body: JSON.stringify(spec) }),
  });
  await res.body?.cancel();
  assert.ok(res.ok, `faults on ${on}: ${res.status}`);
}

/** How many messages of the topic's log have `body`. */
async function inLog(url: string, body: string): Promise<number> {
  const res = await fetch(`${url}/v1/topics/mqtt/messages?fromSeq=0&limit=1000`);
  const page = await res.json() as { messages: { body: unknown }[] };
  return page.messages.filter((m) => m.body === body).length;
}

type Raw = Awaited<ReturnType<typeof rawClient>>;

async function connected(port: number, clientId: string): Promise<Raw> {
  const c = await rawClient(port, 4);
  await c.send(
    {
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: 4,
      clientId,
      clean: false,
      keepalive: 60,
    } as Packet,
  );
  await until(() => c.packets().some((p) => p.cmd === "connack"), "CONNACK", 20_000);
  return c;
}

const publish = (dup: boolean) =>
  ({
    cmd: "publish",
    topic: "f11/t",
    payload: "f11-m",
    qos: 2,
    messageId: 7,
    dup,
    retain: false,
  }) as Packet;

Deno.test({
  name:
    "F11: a QoS 2 PUBLISH retried by the gateway after its connection ended is not applied twice",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { nodes, mqttPort } = await mqttNodes({ count: 3, storage: "fsync", testFaults: true });
    try {
      const leader = await nodes.waitLeader();
      const f = nodes.ids.find((id) => id !== leader)!;
      const others = nodes.ids.filter((id) => id !== f);
      await keepEveryMessage(nodes.url(leader));
      const a = await connected(mqttPort(f), "f11");
      for (const o of others) {
        await faults(nodes, f, { peer: o, direction: "out", cut: true });
        await faults(nodes, o, { peer: f, direction: "out", cut: true });
      }
      await until(
        async () => ((await nodes.cluster(f)).leaderId ?? "") === "",
        "f without a leader",
        20_000,
      );
      await a.send(publish(false));
      await sleep(500); // the gateway on f retries it (503, no leader)
      await a.close();
      const b = await connected(mqttPort(leader), "f11");
      await b.send(publish(true));
      await until(() => b.packets().some((p) => p.cmd === "pubrec"), "PUBREC", 20_000);
      await b.send({ cmd: "pubrel", messageId: 7 } as Packet);
      await until(() => b.packets().some((p) => p.cmd === "pubcomp"), "PUBCOMP", 20_000);
      for (const id of nodes.ids) await faults(nodes, id);
      await until(async () => (await nodes.cluster(f)).leaderId === leader, "f back", 20_000);
      // f's retries end 15 s after the PUBLISH: watch the log until then.
      for (let i = 0; i < 40; i++) {
        const n = await inLog(nodes.url(leader), "f11-m");
        assert.equal(n, 1, `the message is in the log ${n} times`);
        await sleep(500);
      }
      await b.close();
    } finally {
      await nodes.stop();
    }
  },
});
