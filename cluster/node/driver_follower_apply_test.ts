/**
 * A follower applies committed entries after its own persist and after its answer to the
 * leader's append has left, not during that persist: on a machine whose cores the leader, the
 * followers and the clients share, a follower's apply while the commit round runs takes a core
 * from the round itself (the other follower's write, the leader's), and nothing waits for a
 * follower's apply (docs/mqtt.md, session 14).
 */

import assert from "node:assert/strict";
import { NodeDriver } from "./driver.ts";
import { EntryKind, type Message } from "../raft/mod.ts";
import { enc, handDriven } from "./_testing_cluster.ts";
import { hookedLogStorage, settle } from "./_testing_gated.ts";
import type { SnapshotView, StateMachine } from "./ports.ts";

/** Notes each applied command in `events`, in order with the driver's sends. */
class NotingMachine implements StateMachine {
  constructor(readonly events: string[]) {}
  apply(_index: number, data: Uint8Array): unknown {
    this.events.push(`apply ${new TextDecoder().decode(data)}`);
    return undefined;
  }
  snapshot(): SnapshotView {
    return { serialize: () => new Uint8Array() };
  }
  restore(): void {}
}

Deno.test("NodeDriver: a follower applies what an append commits only after that append is durable and answered", async () => {
  const events: string[] = [];
  let waiting: Promise<void> | undefined;
  let release = () => {};
  const storage = hookedLogStorage(async () => {
    if (waiting) await waiting;
  });
  const d = await NodeDriver.open({
    raft: { id: "f", clusterId: "test", electionTicks: 10, heartbeatTicks: 1, random: () => 0 },
    bootstrapConf: { voters: ["l", "f", "g"], learners: [] },
    bootstrapUrls: new Map([["l", "http://l"], ["f", "http://f"], ["g", "http://g"]]),
    storage,
    sink: {
      send: (msgs: readonly Message[]) => {
        for (const m of msgs) events.push(`send ${m.type} ${m.index}`);
      },
    },
    stateMachine: new NotingMachine(events),
    ...handDriven().options,
  });
  await settle();
  const last = d.status().lastIndex;
  const lastTerm = storage.log.term(last) ?? 0;
  const append = (index: number, commit: number, data: string): Message => ({
    clusterId: "test",
    from: "l",
    to: "f",
    type: "append",
    term: 2,
    index: index - 1,
    logTerm: index - 1 === last ? lastTerm : 2,
    commit,
    entries: [{ index, term: 2, kind: EntryKind.Normal, data: enc(data) }],
  });
  // a: durable here, not committed yet.
  d.receive([append(last + 1, last, "a")]);
  await settle();
  assert.equal(d.status().stableIndex, last + 1);
  assert.ok(!events.includes("apply a"));
  // b commits a (durable here since the last persist) while b's own write is held.
  waiting = new Promise((resolve) => release = resolve);
  events.length = 0;
  d.receive([append(last + 2, last + 1, "b")]);
  await settle();
  assert.deepEqual(events, [], "nothing applied while b's write runs");
  release();
  waiting = undefined;
  await settle();
  assert.deepEqual(events, [`send append_resp ${last + 2}`, "apply a"]);
  await d.close();
});
