/**
 * A leader's sends around its own log write (driver_sends.ts): the appends a commit needs besides
 * the leader leave first, then the leader's write starts, then the rest; every message still
 * leaves, once, and a peer's messages keep their order.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { NodeDriver } from "./driver.ts";
import { sendsAroundOwnWrite } from "./driver_sends.ts";
import type { Message } from "../raft/mod.ts";
import { enc, handDriven, ListMachine } from "./_testing_cluster.ts";
import { electByHand, hookedLogStorage } from "./_testing_gated.ts";

const msg = (to: string, index: number): Message => ({
  type: "append",
  clusterId: "test",
  from: "l",
  to,
  term: 1,
  logTerm: 1,
  index,
  commit: 0,
});

Deno.test("sendsAroundOwnWrite: on three nodes one follower's messages go first, in order", () => {
  const all = [msg("p", 1), msg("q", 1), msg("p", 2)];
  const { first, later } = sendsAroundOwnWrite(all, true);
  assert.deepEqual(first, [msg("p", 1), msg("p", 2)]);
  assert.deepEqual(later, [msg("q", 1)]);
});

Deno.test("sendsAroundOwnWrite: all go first with nothing to write, or to one peer", () => {
  const two = [msg("p", 1), msg("q", 1)];
  assert.deepEqual(sendsAroundOwnWrite(two, false), { first: two, later: [] });
  const one = [msg("p", 1), msg("p", 2)];
  assert.deepEqual(sendsAroundOwnWrite(one, true), { first: one, later: [] });
});

Deno.test("sendsAroundOwnWrite: first a majority's peers with the leader, each message once", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom("a", "b", "c", "d", "e", "f"), fc.nat(50)), {
        maxLength: 30,
      }),
      fc.boolean(),
      (pairs, writing) => {
        const all = pairs.map(([to, i]) => msg(to, i));
        const { first, later } = sendsAroundOwnWrite(all, writing);
        const peers = [...new Set(all.map((m) => m.to))];
        const firstPeers = new Set(first.map((m) => m.to));
        // Every message once; a peer's in one part, in their order.
        assert.equal(first.length + later.length, all.length);
        for (const p of peers) {
          const part = firstPeers.has(p) ? first : later;
          assert.deepEqual(part.filter((m) => m.to === p), all.filter((m) => m.to === p));
          if (firstPeers.has(p)) assert.ok(!later.some((m) => m.to === p));
        }
        // The first peers (in order of appearance), with the leader, make a majority.
        const want = writing && peers.length >= 2 ? Math.ceil(peers.length / 2) : peers.length;
        assert.deepEqual([...firstPeers], peers.slice(0, want));
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("a leader sends one follower's append, starts its own write, then the other's", async () => {
  const events: string[] = [];
  const sent: Message[] = [];
  const { options, tick } = handDriven();
  const d = await NodeDriver.open({
    raft: { id: "l", clusterId: "test", electionTicks: 10, heartbeatTicks: 1, random: () => 0 },
    bootstrapConf: { voters: ["l", "p", "q"], learners: [] },
    bootstrapUrls: new Map([["l", "http://l"], ["p", "http://p"], ["q", "http://q"]]),
    storage: hookedLogStorage((es) => {
      if (es.length > 0) events.push(`write ${es.at(-1)!.index}`);
    }),
    sink: {
      send: (msgs) => {
        sent.push(...msgs);
        for (const m of msgs) if (m.type === "append") events.push(`append ${m.to}`);
      },
    },
    stateMachine: new ListMachine(),
    ...options,
  });
  try {
    const settle = async () => {
      for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
    };
    const base = { clusterId: "test", to: "l", logTerm: 0, index: 0, commit: 0 } as const;
    await electByHand(d, sent, tick, settle);
    assert.equal(d.status().role, "leader");
    const term = d.status().term;
    const noop = d.status().lastIndex;
    for (const from of ["p", "q"]) {
      d.receive([{ ...base, from, type: "append_resp", term, index: noop }]);
    }
    await settle();
    events.length = 0;
    const applied = d.propose(enc("x"), 1000);
    await settle();
    // The leader's write starts between the two followers' appends of the new entry.
    assert.deepEqual(events, ["append p", `write ${noop + 1}`, "append q"]);
    d.receive([{ ...base, from: "q", type: "append_resp", term, index: noop + 1 }]);
    assert.equal((await applied).ok, true);
  } finally {
    await d.close();
  }
});
