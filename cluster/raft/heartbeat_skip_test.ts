/**
 * A leader's tick sends no heartbeat to a follower in step (`leaderHeartbeats`, leader.ts): one that got
 * an append and acknowledged a new entry since its last heartbeat, holds the commit and is
 * replicated by appends. The others still get theirs, and so does that one once appends stop.
 */

import assert from "node:assert/strict";
import { bytes, Network } from "./_testing_network.ts";
import type { Message } from "./types.ts";

const heartbeatsTo = (sent: readonly Message[], to: string) =>
  sent.filter((m) => m.type === "heartbeat" && m.to === to).length;

/** Three nodes, n1 leading, every follower's heartbeat state cleared by a quiet tick. */
function steady(): Network {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.tickAll(2);
  return net;
}

Deno.test("heartbeats: none at the tick to followers that acknowledged an append since the last", () => {
  const net = steady();
  net.propose("n1", "a");
  net.delivered = [];
  net.tick("n1");
  net.settle();
  assert.equal(heartbeatsTo(net.delivered, "n2"), 0);
  assert.equal(heartbeatsTo(net.delivered, "n3"), 0);
  // Appends stopped: the next tick's heartbeats go to both.
  net.delivered = [];
  net.tick("n1");
  net.settle();
  assert.equal(heartbeatsTo(net.delivered, "n2"), 1);
  assert.equal(heartbeatsTo(net.delivered, "n3"), 1);
  assert.equal(net.leaders().length, 1);
});

Deno.test("heartbeats: a follower whose appends were lost, or that is behind the commit, gets one", () => {
  const net = steady();
  net.filter = (m) => !(m.type === "append" && m.to === "n3");
  net.propose("n1", "a", "b");
  net.filter = () => true;
  net.delivered = [];
  net.tick("n1");
  net.settle();
  assert.equal(heartbeatsTo(net.delivered, "n2"), 0, "in step");
  assert.equal(heartbeatsTo(net.delivered, "n3"), 1, "acknowledged nothing new");
  assert.equal(net.node("n3").status().commit, net.node("n1").status().commit, "caught up");
});

Deno.test("heartbeats: a pending read's heartbeat round goes to every follower", () => {
  const net = steady();
  net.propose("n1", "a");
  // Its confirmation is lost: the tick's heartbeats carry the read's context again.
  net.filter = (m) => m.type !== "heartbeat_resp";
  net.node("n1").readIndex(bytes("r1"));
  net.settle();
  net.filter = () => true;
  net.delivered = [];
  net.tick("n1");
  net.settle();
  assert.equal(heartbeatsTo(net.delivered, "n2"), 1);
  assert.equal(heartbeatsTo(net.delivered, "n3"), 1);
  assert.ok(net.sim("n1").readStates.some((r) => r.context === "r1"));
});
