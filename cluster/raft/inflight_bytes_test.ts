/**
 * The leader's pipelining window to one follower is bounded in bytes as well as in messages
 * (`RaftConfig.maxInflightBytes`). With only the message bound (256 appends of up to 1 MiB), a
 * follower that came back far behind (a node replaced with an empty data directory, after its
 * snapshot install) was sent up to 256 MiB in one go: read back from the log on disk, encoded
 * and queued on one link, which held the leader's event loop for seconds, so the other follower
 * heard no heartbeat, and the link's queue (64 MiB) dropped appends that then had to be resent.
 */

import assert from "node:assert/strict";
import { Network } from "./_testing_network.ts";
import { DEFAULTS } from "./raft.ts";
import type { Message } from "./types.ts";

const ENTRY_BYTES = 512 * 1024;

function appendBytes(ms: readonly Message[], to: string): number {
  let sum = 0;
  for (const m of ms) {
    if (m.type !== "append" || m.to !== to) continue;
    for (const e of m.entries ?? []) sum += e.data.byteLength;
  }
  return sum;
}

Deno.test("raft: the bytes in flight to a follower that does not answer stay within maxInflightBytes", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.filter = (m) => !(m.type === "append_resp" && m.from === "n2"); // n2's acks are lost
  net.delivered = [];
  for (let i = 0; i < 64; i++) net.node("n1").propose(new Uint8Array(ENTRY_BYTES).fill(i));
  net.settle();
  const toN2 = appendBytes(net.delivered, "n2");
  const toN3 = appendBytes(net.delivered, "n3");
  assert.equal(toN3, 64 * ENTRY_BYTES, "n3 answers: every entry reaches it");
  assert.ok(
    toN2 <= DEFAULTS.maxInflightBytes + DEFAULTS.maxAppendBytes,
    `${toN2} bytes sent to n2 without an answer (window ${DEFAULTS.maxInflightBytes})`,
  );
});

Deno.test("raft: a follower far behind catches up in windows of maxInflightBytes", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.isolate("n3");
  for (let i = 0; i < 64; i++) net.node("n1").propose(new Uint8Array(ENTRY_BYTES).fill(i));
  net.settle();
  net.heal();
  const last = net.node("n1").status().commit;
  // Every append the leader sends n3 is counted; at most one window may be unanswered at once.
  let unanswered = 0, worst = 0;
  const saved = net.filter;
  net.filter = (m) => {
    if (m.type === "append" && m.to === "n3") {
      for (const e of m.entries ?? []) unanswered += e.data.byteLength;
      worst = Math.max(worst, unanswered);
    }
    if (m.type === "append_resp" && m.from === "n3") unanswered = 0;
    return saved(m);
  };
  for (let round = 0; round < 200 && net.node("n3").status().commit < last; round++) {
    net.tickAll(1);
    net.settle();
  }
  assert.equal(net.node("n3").status().commit, last, "n3 caught up");
  assert.ok(worst <= DEFAULTS.maxInflightBytes + DEFAULTS.maxAppendBytes, `${worst} in one go`);
});
