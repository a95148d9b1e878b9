/**
 * A session's filters of one QoS are one subscription of at most 64 subject patterns (`a/#` is
 * two). A SUBSCRIBE past that is refused (SUBACK 0x80), and must leave the session as it was:
 * before, the connection kept the refused filters, and a filter moved to a full QoS level was
 * taken out of its old level's subscription and never written to the new one, so its messages
 * reached no subscription of the session (lost, without a word), and a refused filter came
 * alive with the next SUBSCRIBE that fit.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { MqttClient } from "mqtt";
import { collect, connect, mqttNodes, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
addEventListener("unload", () => nodes.stop());

/** The SUBACK's codes (MQTT.js rejects a SUBACK with a failure code, the packet with it). */
async function suback(
  client: MqttClient,
  subs: Record<string, { qos: 0 | 1 | 2 }>,
): Promise<number[]> {
  try {
    return (await client.subscribeAsync(subs)).map((g) => g.qos);
  } catch (e) {
    const granted = (e as { packet?: { granted?: number[] } }).packet?.granted;
    if (granted === undefined) throw e;
    return granted;
  }
}

/** `n` filters `<root>/<i>/#`: two patterns each. */
function filters(root: string, n: number, qos: 0 | 1 | 2): Record<string, { qos: 0 | 1 | 2 }> {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`${root}/${i}/#`, { qos }]));
}

for (const protocolVersion of [4, 5] as const) {
  Deno.test(`MQTT.js v${protocolVersion}: a SUBSCRIBE refused for the filter cap leaves the session's subscriptions as they were`, async () => {
    const root = `cap${protocolVersion}`;
    const sub = await connect(port, { protocolVersion, clientId: `${root}-sub`, clean: false });
    const got = collect(sub);
    // QoS 2: 32 filters, 64 patterns, full. QoS 1: two filters.
    const full = await suback(sub, filters(`${root}/q2`, 32, 2));
    assert.ok(full.every((g) => g === 2), JSON.stringify(full));
    assert.deepEqual(
      await suback(sub, { [`${root}/moved/#`]: { qos: 1 }, [`${root}/keep`]: { qos: 1 } }),
      [1, 1],
    );
    // Moving a QoS 1 filter to the full level: refused. Then a message for it.
    assert.deepEqual(await suback(sub, { [`${root}/moved/#`]: { qos: 2 } }), [0x80]);
    const pub = await connect(port, { protocolVersion });
    await pub.publishAsync(`${root}/moved/a`, "moved", { qos: 1 });
    await pub.publishAsync(`${root}/q2/5/a`, "q2", { qos: 1 });
    // A new filter on the full level: refused; then a SUBSCRIBE that fits, at QoS 0, must be
    // granted, and the refused filter must not come alive with it.
    assert.deepEqual(await suback(sub, { [`${root}/extra/#`]: { qos: 2 } }), [0x80]);
    assert.deepEqual(await suback(sub, { [`${root}/zero`]: { qos: 0 } }), [0]);
    await pub.publishAsync(`${root}/extra/a`, "extra", { qos: 1 });
    await pub.publishAsync(`${root}/zero`, "zero", { qos: 1 });
    await until(() => got.length >= 3, "the three subscribed messages");
    await until(() => got.some((m) => m.topic === `${root}/zero`), "the QoS 0 message");
    // Ordered by topic: the refused moves keep QoS 1, the refused new filter gets nothing.
    const seen = got.map((m) => `${m.topic} ${m.qos}`).sort();
    assert.deepEqual(seen, [`${root}/moved/a 1`, `${root}/q2/5/a 1`, `${root}/zero 0`]);
    await Promise.all([sub.endAsync(), pub.endAsync()]);
  });
}
