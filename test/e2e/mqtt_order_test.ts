/**
 * MQTT publish order through leadership changes: QoS 1 publishers (one on the leader, one on a
 * follower; the gateway keeps several batches of each in flight) and a QoS 2 publisher go on while
 * the leadership is moved three times. Each publisher's PUBACKs/PUBCOMPs must come in PUBLISH
 * order, no message may be lost, the last copy of each QoS 1 message in the topic's log must be in
 * publish order (QoS 1 may repeat one, never reorder the final copies), and each QoS 2 message must
 * be in the log exactly once, in order.
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { keepEveryMessage, mqttNodes, until } from "./mqtt_client.ts";
import type { Nodes } from "./nodes.ts";

const MESSAGES = 600;
const IN_FLIGHT = 32;

/** Publishes `prefix0..` in order, `IN_FLIGHT` at a time; the indices in the order answered. */
async function publishAll(
  c: MqttClient,
  prefix: string,
  qos: 1 | 2,
  acked: number[],
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let n = 0; n < MESSAGES && next < MESSAGES; n++) {
      const i = next++;
      await c.publishAsync(`ord/${prefix}`, `${prefix}${i}`, { qos });
      acked.push(i);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

/** Moves the leadership away from the current leader; resolves once another one leads. */
async function moveLeader(nodes: Nodes): Promise<string> {
  const leader = await nodes.waitLeader();
  const res = await fetch(`${nodes.url(leader)}/v1/cluster/leadership-transfer`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  await res.body?.cancel();
  let next = leader;
  await until(async () => (next = await nodes.waitLeader()) !== leader, "a new leader", 20_000);
  return next;
}

/** The bodies of the `mqtt` topic's log, in seq order. */
async function logBodies(url: string): Promise<string[]> {
  const out: string[] = [];
  let from = 1;
  for (let page = 0; page < 1000; page++) {
    const res = await fetch(`${url}/v1/topics/mqtt/messages?fromSeq=${from}`);
    const body = await res.json();
    for (const m of body.messages) out.push(m.body);
    if (body.messages.length === 0 || body.nextSeq === undefined) break;
    from = body.nextSeq;
  }
  return out;
}

/** Where the last copy of each of `prefix0..` is in `log` (-1: missing). */
function lastCopies(log: readonly string[], prefix: string): number[] {
  const at = new Array<number>(MESSAGES).fill(-1);
  log.forEach((b, pos) => {
    if (b.startsWith(prefix)) at[Number(b.slice(prefix.length))] = pos;
  });
  return at;
}

function isIncreasing(xs: readonly number[]): boolean {
  return xs.every((x, i) => i === 0 || x > xs[i - 1]);
}

Deno.test("PUBACKs in order and the log in publish order through three leadership changes", async () => {
  const { nodes, mqttPort } = await mqttNodes({ count: 3, storage: "fsync" });
  const clients: MqttClient[] = [];
  try {
    const leader = await nodes.waitLeader();
    const follower = nodes.ids.find((id) => id !== leader)!;
    // The checks read the topic's log as the record of what was published: keep every message
    // (the gateway leaves a topic given a retention as it is; its own is interest retention).
    await keepEveryMessage(nodes.url(leader));
    const open = async (first: string, clientId: string, protocolVersion: 4 | 5) => {
      const order = [first, ...nodes.ids.filter((id) => id !== first)];
      const c = mqtt.connect({
        servers: order.map((id) => ({ host: "127.0.0.1", port: mqttPort(id) })),
        reconnectPeriod: 300,
        connectTimeout: 5000,
        clean: false,
        clientId,
        protocolVersion,
      });
      clients.push(c);
      await new Promise((r) => c.once("connect", r));
      return c;
    };
    const onLeader = await open(leader, "order-leader", 5);
    const onFollower = await open(follower, "order-follower", 4);
    const exactly = await open(leader, "order-qos2", 5);
    const acked = { L: [] as number[], F: [] as number[], Q: [] as number[] };
    const publishing = Promise.all([
      publishAll(onLeader, "L", 1, acked.L),
      publishAll(onFollower, "F", 1, acked.F),
      publishAll(exactly, "Q", 2, acked.Q),
    ]);
    const leaders = [leader];
    for (const share of [0.2, 0.45, 0.7]) {
      const want = Math.floor(MESSAGES * 3 * share);
      const done = () => acked.L.length + acked.F.length + acked.Q.length;
      await until(() => done() >= want, `${want} answered`, 60_000);
      leaders.push(await moveLeader(nodes));
    }
    await publishing;

    for (const [name, order] of Object.entries(acked)) {
      assert.equal(order.length, MESSAGES, name);
      assert.ok(isIncreasing(order), `${name}: answered out of PUBLISH order`);
    }
    const log = await logBodies(nodes.url(await nodes.waitLeader()));
    for (const prefix of ["L", "F", "Q"]) {
      const at = lastCopies(log, prefix);
      assert.deepEqual(at.filter((p) => p < 0), [], `${prefix}: none lost`);
      assert.ok(isIncreasing(at), `${prefix}: the last copies in publish order`);
    }
    const copiesOfQ = log.filter((b) => b.startsWith("Q")).length;
    assert.equal(copiesOfQ, MESSAGES, "each QoS 2 message exactly once");
    console.log(
      `leaders ${leaders.join(" -> ")}: QoS 1 copies beyond one: ${
        log.filter((b) => !b.startsWith("Q")).length - 2 * MESSAGES
      }`,
    );
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await nodes.stop();
  }
});
