/**
 * A filter `a/#` matches `a` itself too, so the session keeps it as two patterns, `a.>` and `a`.
 * A persistent session that reconnected read them back as two filters, `a/#` and `a`, so an
 * UNSUBSCRIBE of `a/#` after the reconnect left `a` subscribed: the client, unsubscribed, still
 * got every message on `a`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { collect, connect, mqttNodes, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
addEventListener("unload", () => nodes.stop());

for (const protocolVersion of [4, 5] as const) {
  Deno.test(`MQTT.js v${protocolVersion}: an UNSUBSCRIBE of a/# after a reconnect leaves nothing of it`, async () => {
    const root = `us${protocolVersion}`;
    const opts = {
      protocolVersion,
      clientId: `${root}-sub`,
      clean: false,
      ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 600 } } : {}),
    };
    const first = await connect(port, opts);
    await first.subscribeAsync({ [`${root}/#`]: { qos: 1 }, [`${root}-keep`]: { qos: 1 } });
    await first.endAsync();
    const back = await connect(port, opts);
    const got = collect(back);
    await back.unsubscribeAsync(`${root}/#`);
    const pub = await connect(port, { protocolVersion });
    for (const t of [root, `${root}/x`, `${root}-keep`]) await pub.publishAsync(t, t, { qos: 1 });
    await until(() => got.some((m) => m.topic === `${root}-keep`), "the kept filter's message");
    assert.deepEqual(got.map((m) => m.topic), [`${root}-keep`]);
    await Promise.all([back.endAsync(), pub.endAsync()]);
  });
}
