/**
 * What the MQTT gateway reads of this node's claims (`ClaimsView`), through the broker state
 * the node holds now: a snapshot restore replaces the state.
 *
 * @module
 */

import { MQTT_TOPIC, type MqttGatewayOptions } from "../mqtt/mod.ts";

type ClaimsView = MqttGatewayOptions["claims"];

/** The broker state's claim queries (`BrokerState`'s). */
export interface ClaimsState {
  claimChanges(topic: string): number;
  claimsChangedSince(topic: string, since: number): string[] | undefined;
  claim(
    topic: string,
    key: string,
  ): { readonly holder: string | null; readonly stamp: number } | undefined;
  claimsHeldBy(topic: string, holderPrefix: string): { key: string; holder: string }[];
}

/**
 * The MQTT topic's claims in `state()`, read anew every time. The change count goes on across a
 * restore: a new state's count starts again at 0, so it is shown past every count shown before
 * (`base`), and a look from before the restore is told to look at all (its changes are not
 * known); otherwise a count that came back to the one last seen hid the snapshot's takes.
 */
export function mqttClaimsView(state: () => ClaimsState): ClaimsView {
  let current = state();
  let base = 0;
  let last = 0;
  const now = () => {
    const s = state();
    if (s !== current) {
      current = s;
      base = last + 1;
    }
    return s;
  };
  return {
    changes: () => {
      const count = now().claimChanges(MQTT_TOPIC); // first: it may move `base`
      return last = base + count;
    },
    changedSince: (since) => {
      const s = now();
      return since < base ? undefined : s.claimsChangedSince(MQTT_TOPIC, since - base);
    },
    claim: (key) => now().claim(MQTT_TOPIC, key),
    heldBy: (prefix) => now().claimsHeldBy(MQTT_TOPIC, prefix),
  };
}
