/**
 * MQTT 5 subscription options are part of the session's subscriptions (3.8.3.1): a persistent
 * session that resumes keeps No Local and Retain As Published without subscribing again. They
 * lived in the connection: after a reconnect the client's own messages came back through its No
 * Local filter, and a retained message's live delivery lost RETAIN, until it subscribed again.
 * Now they are kept with the session's claim, beside its shared-subscription memberships.
 *
 * @module
 */

import assert from "node:assert/strict";
import { collect, connect, connectAck, mqttNodes, until } from "./mqtt_client.ts";

const { nodes, mqttPort } = await mqttNodes({ count: 1, storage: "memory" });
const port = mqttPort("n1");
addEventListener("unload", () => nodes.stop());

Deno.test("MQTT 5: a resumed persistent session keeps No Local and Retain As Published", async () => {
  const opts = {
    protocolVersion: 5 as const,
    clientId: "ko-self",
    clean: false,
    properties: { sessionExpiryInterval: 300 },
  };
  const first = await connect(port, opts);
  await first.subscribeAsync({
    "ko/#": { qos: 1, nl: true },
    "kr/#": { qos: 1, rap: true },
    "kshare/#": { qos: 1 },
    "$share/kg/kshare/#": { qos: 1 },
  });
  await first.endAsync();
  const again = await connectAck(port, opts);
  assert.equal(again.sessionPresent, true);
  const other = await connect(port, { protocolVersion: 5, clientId: "ko-other" });
  await again.client.publishAsync("ko/own", "own", { qos: 1 });
  await other.publishAsync("ko/theirs", "theirs", { qos: 1 });
  await other.publishAsync("kr/x", "x", { qos: 1, retain: true });
  await other.publishAsync("kshare/y", "y", { qos: 1 });
  await until(() => again.got.filter((m) => m.topic === "kshare/y").length >= 2, "kshare/y twice");
  await until(() => again.got.some((m) => m.topic === "kr/x"), "kr/x");
  const got = again.got.filter((m) => m.topic !== "kshare/y");
  assert.deepEqual(got.map((m) => [m.topic, m.retain]), [["ko/theirs", false], ["kr/x", true]]);
  await other.publishAsync("kr/x", "", { qos: 1, retain: true });
  await Promise.all([again.client.endAsync(), other.endAsync()]);
});

Deno.test("MQTT 5: a resumed session's options change with a SUBSCRIBE and an UNSUBSCRIBE", async () => {
  const opts = {
    protocolVersion: 5 as const,
    clientId: "ko-change",
    clean: false,
    properties: { sessionExpiryInterval: 300 },
  };
  const first = await connect(port, opts);
  await first.subscribeAsync({ "kc/a/#": { qos: 1, nl: true }, "kc/b/#": { qos: 1, nl: true } });
  await first.subscribeAsync({ "kc/a/#": { qos: 1 } }); // No Local off again
  await first.unsubscribeAsync("kc/b/#");
  await first.subscribeAsync({ "kc/b/#": { qos: 1 } }); // a new subscription, no option
  await first.endAsync();
  const again = await connect(port, opts);
  const got = collect(again);
  await again.publishAsync("kc/a/1", "1", { qos: 1 });
  await again.publishAsync("kc/b/2", "2", { qos: 1 });
  await until(() => got.length >= 2, "both own messages");
  assert.deepEqual(got.map((m) => m.topic), ["kc/a/1", "kc/b/2"]);
  await again.endAsync();
});

Deno.test("MQTT 5: options past the claim's 16 KB of data are left out, the shared memberships kept", async () => {
  const opts = {
    protocolVersion: 5 as const,
    clientId: "ko-big",
    clean: false,
    properties: { sessionExpiryInterval: 300 },
  };
  const first = await connect(port, opts);
  // 90 filters of ~200 characters with No Local: ~18 KB of options, past the claim's bound.
  const long = (i: number) => `kl/${"x".repeat(190)}/${i}`;
  for (const qos of [1, 2] as const) {
    const batch: Record<string, { qos: 1 | 2; nl: boolean }> = {};
    for (let i = 0; i < 45; i++) batch[long(qos * 100 + i)] = { qos, nl: true };
    await first.subscribeAsync(batch);
  }
  // Joined after them: its write must not fail for the options' sake.
  await first.subscribeAsync({ "$share/kbig/kb/#": { qos: 1 } });
  await first.endAsync();
  const again = await connectAck(port, opts);
  const other = await connect(port, { protocolVersion: 5, clientId: "ko-big-other" });
  await other.publishAsync("kb/1", "1", { qos: 1 });
  await until(() => again.got.some((m) => m.topic === "kb/1"), "the shared subscription's message");
  await Promise.all([again.client.endAsync(), other.endAsync()]);
});
