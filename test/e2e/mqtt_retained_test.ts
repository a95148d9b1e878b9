/**
 * The bounds of retained messages (the `mqtt` topic's `maxRetained`, replicated state): beyond
 * them a RETAIN PUBLISH for a new topic is refused, v5 PUBACK 0x97 (quota exceeded), v3.1.1
 * acknowledged and dropped; replacing and clearing go on. One node, MQTT.js.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connect, mqttNodes } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
addEventListener("unload", () => nodes.stop());
await nodes.waitLeader();
const port = mqttPort("n1");
const url = nodes.url("n1");

async function retainedTopics(): Promise<string[]> {
  const res = await fetch(`${url}/v1/topics/mqtt/retained`);
  const body = await res.json();
  return body.messages.map((m: { subject: string; body: string }) => `${m.subject}=${m.body}`)
    .sort();
}

Deno.test("maxRetained: a retained message for a new topic beyond it is refused (v5 PUBACK 0x97, v3.1.1 dropped); replacing and clearing go on", async () => {
  const put = await fetch(`${url}/v1/topics/mqtt`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ maxRetained: 2 }),
  });
  assert.ok(put.ok, `PUT /v1/topics/mqtt: ${put.status}`);
  await put.body?.cancel();
  const v5 = await connect(port, { protocolVersion: 5 });
  await v5.publishAsync("cap/a", "a1", { qos: 1, retain: true });
  await v5.publishAsync("cap/b", "b1", { qos: 2, retain: true });
  await assert.rejects(
    v5.publishAsync("cap/c", "c1", { qos: 1, retain: true }),
    /Quota exceeded/i,
  );
  await assert.rejects(
    v5.publishAsync("cap/c", "c1", { qos: 2, retain: true }),
    /Quota exceeded/i,
  );
  await v5.publishAsync("cap/a", "a2", { qos: 1, retain: true }); // a replacement fits
  await v5.publishAsync("cap/c", "plain", { qos: 1 }); // not retained: not concerned
  const v4 = await connect(port, { protocolVersion: 4 });
  await v4.publishAsync("cap/d", "d1", { qos: 1, retain: true }); // acknowledged, dropped
  assert.deepEqual(await retainedTopics(), ["cap.a=a2", "cap.b=b1"]);
  await v4.publishAsync("cap/b", "", { qos: 1, retain: true }); // clears b: room again
  await v4.publishAsync("cap/d", "d1", { qos: 1, retain: true });
  assert.deepEqual(await retainedTopics(), ["cap.a=a2", "cap.d=d1"]);
  await Promise.all([v5.endAsync(), v4.endAsync()]);
});
