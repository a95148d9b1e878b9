/**
 * A persistent session's MQTT 5 No Local option comes back when the session resumes on another
 * node (the claim's data is replicated state): before, the options lived in the connection, and a
 * bridge that reconnected anywhere got its own messages back until it subscribed again.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connect, connectAck, mqttNodes, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 3, storage: "memory" });
addEventListener("unload", () => nodes.stop());

Deno.test("MQTT 5: No Local holds after the session resumes on another node", async () => {
  const opts = {
    protocolVersion: 5 as const,
    clientId: "roam-nl",
    clean: false,
    properties: { sessionExpiryInterval: 300 },
  };
  const first = await connect(mqttPort("n1"), opts);
  await first.subscribeAsync({ "rn/#": { qos: 1, nl: true } });
  await first.endAsync();
  const again = await connectAck(mqttPort("n2"), opts);
  assert.equal(again.sessionPresent, true);
  const other = await connect(mqttPort("n3"), { protocolVersion: 5, clientId: "roam-other" });
  await again.client.publishAsync("rn/own", "own", { qos: 1 });
  await other.publishAsync("rn/theirs", "theirs", { qos: 1 });
  await until(() => again.got.some((m) => m.topic === "rn/theirs"), "the other client's message");
  assert.deepEqual(again.got.map((m) => m.topic), ["rn/theirs"]);
  await Promise.all([again.client.endAsync(), other.endAsync()]);
});
