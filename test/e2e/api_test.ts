/**
 * HTTP API v1 over real sockets against real node processes (`src/main.ts`): the contract steps
 * of `contract.ts` on one node and on three. Bad inputs and auth are in `api_input_test.ts`,
 * leader changes and process faults in `api_faults_test.ts`, the same steps through the edge
 * gateway in `edge_test.ts`.
 *
 * @module
 */

import { Nodes } from "./nodes.ts";
import {
  deliveryModeSteps,
  forwardingSteps,
  queueWalk,
  topicSteps,
  transactionSteps,
} from "./contract.ts";

Deno.test("e2e api: one node walks queues, publish, receive and settles", async (t) => {
  const nodes = await Nodes.start({ count: 1 });
  try {
    await queueWalk(t, nodes.url("n1"));
  } finally {
    await nodes.stop();
  }
});

Deno.test("e2e api: three nodes", async (t) => {
  const nodes = await Nodes.start({ count: 3 });
  try {
    const leaderId = await nodes.waitLeader();
    const leader = nodes.url(leaderId);
    const followers = nodes.ids.filter((id) => id !== leaderId).map((id) => nodes.url(id));
    await queueWalk(t, leader, followers[0]);
    await forwardingSteps(t, leader, followers);
    await topicSteps(t, leader, followers);
    await transactionSteps(t, leader, followers);
    await deliveryModeSteps(t, leader, followers);
  } finally {
    await nodes.stop();
  }
});
