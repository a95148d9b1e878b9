/**
 * A follower told of a commit with the next append starts that append's log write (and its
 * fdatasync) before it applies the committed entry: the apply runs while the fsync does, instead
 * of holding back the write that every commit's round waits for.
 */

import assert from "node:assert/strict";
import { NodeDriver } from "./driver.ts";
import { EntryKind, type Message } from "../raft/mod.ts";
import { enc, handDriven, ListMachine } from "./_testing_cluster.ts";
import { FileLogStore, MemoryHardStateStore, MemorySnapshotStore } from "../storage/mod.ts";

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
};

Deno.test("a follower starts an append's fsync before it applies the entry committed with it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "quorumq-write-first-" });
  const events: string[] = [];
  const log = await FileLogStore.open(dir, {
    log: () => {},
    beforeSync: () => events.push("fsync"),
  });
  const machine = new (class extends ListMachine {
    override apply(index: number, data: Uint8Array): unknown {
      events.push(`apply ${new TextDecoder().decode(data)}`);
      return super.apply(index, data);
    }
  })();
  const sent: Message[] = [];
  const d = await NodeDriver.open({
    raft: { id: "f", clusterId: "test", electionTicks: 10, heartbeatTicks: 1, random: () => 0 },
    bootstrapConf: { voters: ["l", "f", "g"], learners: [] },
    bootstrapUrls: new Map([["l", "http://l"], ["f", "http://f"], ["g", "http://g"]]),
    storage: {
      log,
      hardState: new MemoryHardStateStore(),
      snapshots: new MemorySnapshotStore(),
    },
    sink: { send: (msgs) => void sent.push(...msgs) },
    stateMachine: machine,
    ...handDriven().options,
  });
  try {
    await settle();
    const term = d.status().term + 1;
    const last = d.status().lastIndex;
    const entry = (index: number, text: string) => ({
      index,
      term,
      kind: EntryKind.Normal,
      data: enc(text),
    });
    const append = (prev: number, prevTerm: number, text: string, commit: number): Message => ({
      type: "append",
      clusterId: "test",
      from: "l",
      to: "f",
      term,
      logTerm: prevTerm,
      index: prev,
      entries: [entry(prev + 1, text)],
      commit,
    });
    d.receive([append(last, log.term(last) ?? 0, "a", last)]);
    await settle();
    assert.ok(sent.some((m) => m.type === "append_resp" && m.index === last + 1 && !m.reject));
    events.length = 0;
    // "b" arrives with the commit of "a", which is durable here already.
    d.receive([append(last + 1, term, "b", last + 1)]);
    await settle();
    assert.deepEqual(events, ["fsync", "apply a"]);
    assert.ok(sent.some((m) => m.type === "append_resp" && m.index === last + 2 && !m.reject));
  } finally {
    await d.close();
    await log.close();
    await Deno.remove(dir, { recursive: true });
  }
});
