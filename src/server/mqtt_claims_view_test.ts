/**
 * The gateway looks again only at the claims changed since its last look (`watchTakeovers`), by
 * a count of changes. A snapshot restore replaces the broker state and its count starts again:
 * a view whose count then came back to the value last seen hid the takes of the snapshot and
 * after it until the 5 s sweep (the old connection of a session taken over stayed open).
 */
import assert from "node:assert/strict";
import { BrokerState } from "../broker/mod.ts";
import { captureSnapshot, restoreSnapshot } from "../broker/mod.ts";
import { MQTT_TOPIC } from "../mqtt/mod.ts";
import { mqttClaimsView } from "./mqtt_claims_view.ts";

function take(state: BrokerState, index: number, key: string, holder: string): void {
  const r = state.apply(index, {
    ts: 1_000 + index,
    cmd: { op: "claim_take", topic: MQTT_TOPIC, key, holder },
  });
  assert.ok(r.ok, JSON.stringify(r));
}

Deno.test("after a snapshot restore the claims view never shows a change count already seen", () => {
  let state = new BrokerState();
  assert.ok(
    state.apply(1, { ts: 1_000, cmd: { op: "topic_put", topic: MQTT_TOPIC, options: {} } }).ok,
  );
  // A node that is behind: it applied two takes and looked.
  take(state, 2, "mqtt-a", "n1/x/1");
  take(state, 3, "mqtt-b", "n1/x/2");
  const view = mqttClaimsView(() => state);
  const seen = view.changes();
  // The leader's snapshot, further on: a takes over on another node, and two more takes.
  const leader = new BrokerState();
  assert.ok(
    leader.apply(1, { ts: 1_000, cmd: { op: "topic_put", topic: MQTT_TOPIC, options: {} } }).ok,
  );
  take(leader, 2, "mqtt-a", "n2/y/9");
  state = restoreSnapshot(captureSnapshot(leader).serialize());
  take(state, 3, "mqtt-c", "n3/z/1");
  take(state, 4, "mqtt-d", "n3/z/2");
  const now = view.changes();
  assert.notEqual(now, seen, "the count looks unchanged: the takeover of mqtt-a is not looked at");
  const changed = view.changedSince(seen);
  assert.ok(
    changed === undefined || changed.includes("mqtt-a"),
    `changed since the last look: ${JSON.stringify(changed)}`,
  );
});
