/**
 * What the driver simulation's clients propose: a hash-chain command, or a broker command
 * (`--app broker`).
 *
 * @module
 */

import {
  encodeEnvelope,
  type MessageInput,
  packProposal,
  type Proposal,
} from "../../../src/broker/mod.ts";
import { BrokerSimApp } from "../broker/broker_app.ts";
import { oddHeaders } from "../broker/broker_workload.ts";
import { TICK_MS } from "./driver_node.ts";
import type { Payload } from "./driver_workload.ts";

const encoder = new TextEncoder();

export const chainPayload: Payload = (key) => encoder.encode(`cmd:${key}`);

/**
 * Broker commands: the first creates the queue, the others publish with the key as id. Encoded
 * by the target's app (`BrokerSimApp.propose`, a lone proposal's envelope), which applies them
 * from the proposal itself, as a real leader applies its own entries.
 */
export const brokerPayload: Payload = (key, step, target) => {
  const stamp = { ts: step * TICK_MS };
  const proposal: Proposal = key.startsWith("1.")
    ? { cmd: { op: "queue_put", queue: "jobs", options: {} } }
    : { cmd: { op: "publish", queue: "jobs", message: brokerMessage(key) } };
  if (target.app instanceof BrokerSimApp) {
    return target.app.propose(stamp, [packProposal(proposal)]);
  }
  return encodeEnvelope({ ...stamp, ...proposal });
};

/**
 * A publish of `key`; one key in five (from its characters, not drawn: a seed's schedule stays
 * the same) also carries the headers where msgpack readers part ways (`oddHeaders`), which every
 * replica must store as the leader applied them.
 */
function brokerMessage(key: string): MessageInput {
  const body = encoder.encode(key);
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) % 5;
  return h === 0 ? { body, id: key, headers: oddHeaders(key) } : { body, id: key };
}
