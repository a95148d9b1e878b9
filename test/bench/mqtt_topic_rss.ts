/**
 * The broker state an MQTT stream leaves on every node, in process: `count` messages of 256 B
 * published to the `mqtt` topic as the gateway publishes them (batches of 64 with a subject and
 * its two headers), each batch received and acked by one session subscription (QoS 1, as a
 * connected persistent subscriber), at ~4,000 messages a second of entry time. Reports the topic's messages and bytes, the heap and external
 * memory after a full collection, and the snapshot's size, with the topic made as the gateway
 * made it before (`--limits`: `{}`) or now (`{"retention": "interest"}`).
 *
 * `deno run --allow-env --v8-flags=--expose-gc test/bench/mqtt_topic_rss.ts [count] [--limits]`
 *
 * @module
 */

import process from "node:process";
import { BrokerState, snapshotBytes } from "../../src/broker/mod.ts";

const count = Number(Deno.args.find((a) => !a.startsWith("--")) ?? 100_000);
const limits = Deno.args.includes("--limits");
const MB = 1024 * 1024;
const gc = (globalThis as { gc?: () => void }).gc;
const BATCH = 64;

function memory(): string {
  gc?.();
  const m = Deno.memoryUsage();
  return `heapUsed ${(m.heapUsed / MB).toFixed(1)} MB, external ${(m.external / MB).toFixed(1)} MB`;
}

const start = memory();
const b = new BrokerState();
let index = 0;
/** Entry time: 16 ms a batch of 64, ~4,000 messages a second (a lease of 10 s ends in time). */
let now = 1_000_000;
// deno-lint-ignore no-explicit-any
const apply = (cmd: any) => {
  const r = b.apply(++index, { ts: now, cmd });
  if (!r.ok) throw new Error(`${cmd.op}: ${JSON.stringify(r)}`);
  return r;
};
apply({ op: "topic_put", topic: "mqtt", options: limits ? {} : { retention: "interest" } });
apply({
  op: "subscription_put",
  topic: "mqtt",
  subscription: "mqtt-session-q1",
  options: { filters: ["sensors.>"], deliveryMode: "at_least_once", leaseMs: 10_000 },
});
const headers = { "mqtt-payload": "text", "mqtt-qos": "1" };
const cpu0 = process.cpuUsage();
for (let done = 0; done < count; done += BATCH) {
  const messages = Array.from({ length: Math.min(BATCH, count - done) }, (_, i) => {
    const body = new Uint8Array(256).fill(0x61);
    body[0] = (done + i) & 0xff; // a fresh body per message, as decoded entries would be
    return { body, subject: `sensors.${(done + i) % 16}.temp`, headers };
  });
  now += 16;
  apply({ op: "topic_publish_batch", topic: "mqtt", messages });
  const got = apply({
    op: "subscription_receive",
    topic: "mqtt",
    subscription: "mqtt-session-q1",
    max: BATCH,
  }) as unknown as { messages: { receipt: string }[] };
  const receipts = got.messages.map((m) => m.receipt);
  apply({ op: "subscription_ack", topic: "mqtt", subscription: "mqtt-session-q1", receipts });
}
const cpu1 = process.cpuUsage(cpu0);
const cpuUs = cpu1.user + cpu1.system;
const t = b.topic("mqtt")!;
console.log(`${limits ? "limits ({})" : "interest"}, ${count} messages published and acked`);
console.log(`  topic: messages ${t.messages}, bytes ${t.bytes}`);
console.log(`  CPU: ${(cpuUs / count).toFixed(2)} µs per message (publish, receive, ack)`);
console.log(`  memory: start ${start}; end ${memory()}`);
console.log(`  snapshot: ${(snapshotBytes(b).length / MB).toFixed(1)} MB`);
