/**
 * MQTT 5 will delay (3.1.3.2.2): "If a new Network Connection to this Session is made before the
 * Will Delay Interval has passed, the Server MUST NOT send the Will Message." The gateway checked
 * only whether another connection held the session when the delay ended: a client that came back
 * (to any node) and then left with a normal DISCONNECT before the delay ended had its old
 * connection's will published, though it had reconnected, and left cleanly after. And a will is
 * published when the client does not come back, though its connection updated the session's
 * claim itself (a shared subscription kept with the session).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { collect, connect, mqttNodes, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 3, storage: "memory" });
addEventListener("unload", () => nodes.stop());
await nodes.waitLeader();
const [n1, n2] = nodes.ids.map(mqttPort);

/** The node's decision about `clientId`'s will: published or cancelled. */
function willEvent(clientId: string): string | undefined {
  for (const line of nodes.logs("n1").split("\n")) {
    if (!line.includes(`"clientId":"${clientId}"`)) continue;
    if (line.includes("mqtt_will_published")) return "published";
    if (line.includes("mqtt_will_cancelled")) return "cancelled";
  }
  return undefined;
}

Deno.test("a client that reconnects within its will delay and then disconnects normally has no will published", async () => {
  const watcher = await connect(n2, { protocolVersion: 5 });
  const got = collect(watcher);
  await watcher.subscribeAsync({ "wr/#": { qos: 1 } });
  const opts = {
    clientId: "wr-a",
    protocolVersion: 5 as const,
    clean: false,
    properties: { sessionExpiryInterval: 600 },
  };
  const first = await connect(n1, {
    ...opts,
    will: {
      topic: "wr/a",
      payload: Buffer.from("gone"),
      qos: 1 as const,
      retain: false,
      properties: { willDelayInterval: 3 },
    },
  });
  first.stream.destroy(); // the link drops: the will waits 3 s
  const back = await connect(n2, opts);
  await back.endAsync(); // a normal DISCONNECT: the session waits, released
  await until(() => willEvent("wr-a") !== undefined, "n1's decision about the will", 30_000);
  // A message after the decision, through the same path: the will would be before it.
  const pub = await connect(n1, { protocolVersion: 5 });
  await pub.publishAsync("wr/marker", "m", { qos: 1 });
  await until(() => got.some((m) => m.topic === "wr/marker"), "the marker");
  assert.deepEqual(got.map((m) => m.topic), ["wr/marker"]);
  assert.equal(willEvent("wr-a"), "cancelled");
  first.end(true);
  await Promise.all([watcher.endAsync(), pub.endAsync()]);
});

Deno.test("a will with a delay is published when the client does not come back, after it joined a shared subscription", async () => {
  const watcher = await connect(n2, { protocolVersion: 5 });
  const got = collect(watcher);
  await watcher.subscribeAsync({ "wj/#": { qos: 1 } });
  const first = await connect(n1, {
    clientId: "wj-a",
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: 600 },
    will: {
      topic: "wj/a",
      payload: Buffer.from("gone"),
      qos: 1 as const,
      retain: false,
      properties: { willDelayInterval: 1 },
    },
  });
  // Kept with the session's claim: a take of its own, which is no reconnect.
  await first.subscribeAsync({ "$share/g/wj-tasks/#": { qos: 1 } });
  first.stream.destroy();
  await until(() => willEvent("wj-a") !== undefined, "n1's decision about the will", 30_000);
  assert.equal(willEvent("wj-a"), "published");
  await until(() => got.some((m) => m.topic === "wj/a"), "the will");
  first.end(true);
  await watcher.endAsync();
});
