/**
 * A restart's replay rebuilds the very state the node applied live: a log with a chaos run's
 * shape (sessions, batch entries of publishes with ids and repeats, receives, acks,
 * transactions, topic publishes and subscription receives and acks, ticks, repeated session
 * places) is applied as a leader applies it (each entry's decoded proposals kept, `ownEntry`)
 * while it is written to a file log; the log is then opened and loaded as a restart does and
 * replayed from its bytes into a fresh machine. Both states encode to the same snapshot bytes.
 */

import assert from "node:assert/strict";
import { FileLogStore } from "../../cluster/storage/mod.ts";
import { EntryKind } from "../../cluster/raft/mod.ts";
import {
  BatchResults,
  encodeEntry,
  ownEntry,
  packProposal,
  type Proposal,
  type Result,
  snapshotBytes,
} from "../broker/mod.ts";
import { BrokerMachine } from "./broker_machine.ts";

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const body = (s: string) => new TextEncoder().encode(s);
const receiptsOf = (r: Result | undefined): string[] =>
  ((r as { messages?: { receipt: string }[] } | undefined)?.messages ?? []).map((m) => m.receipt);

Deno.test("a replay of the log from its file gives the state the leader applied live, byte for byte", async () => {
  const dir = await Deno.makeTempDir({ prefix: "qq_replay_state_" });
  try {
    const log = await FileLogStore.open(dir, { log: () => {} });
    const live = new BrokerMachine();
    const random = rng(12);
    let index = 0;
    let ts = 1_700_000_000_000;
    const written: { index: number; term: number; kind: EntryKind; data: Uint8Array }[] = [];
    /** Applies one entry of `proposals` as the leader does and writes it; its results. */
    const entry = (proposals: Proposal[]): (Result | undefined)[] => {
      ts += Math.floor(random() * 400);
      const stamp = { ts };
      const run = proposals.map(packProposal);
      const data = encodeEntry(stamp, run);
      const own = ownEntry(stamp, run);
      if (own !== undefined) live.keep(data, own);
      const r = live.apply(++index, data);
      written.push({ index, term: 1, kind: EntryKind.Normal, data });
      return r instanceof BatchResults ? [...r.results] : [r as Result | undefined];
    };
    entry([{ cmd: { op: "queue_put", queue: "q", options: { leaseMs: 1500 } } }]);
    entry([{ cmd: { op: "queue_put", queue: "fifo", options: { fifo: true, leaseMs: 1500 } } }]);
    entry([{ cmd: { op: "topic_put", topic: "t", options: {} } }]);
    entry([{ cmd: { op: "subscription_put", topic: "t", subscription: "s", options: {} } }]);
    const sessions = [0, 1, 2, 3].map(() => {
      entry([{ cmd: { op: "session_open", timeoutMs: 60_000 } }]);
      return { id: index, seq: 0 };
    });
    const inSession = (k: number, cmd: Proposal["cmd"], repeat = false): Proposal => {
      const s = sessions[k];
      if (!repeat) s.seq++;
      return { cmd, session: { id: s.id, seq: s.seq, lowest: Math.max(0, s.seq - 3) } };
    };
    let held: string[] = [];
    let subHeld: string[] = [];
    let fifoHeld: string[] = [];
    for (let round = 0; round < 300; round++) {
      const n = round * 4;
      const proposals: Proposal[] = [
        inSession(0, {
          op: "publish_batch",
          queue: "q",
          // Every third id is a repeat of the round before: deduplicated.
          messages: [0, 1, 2, 3].map((j) => ({
            id: `q-${j === 3 && round > 0 ? n - 4 : n + j}`,
            body: body(`m${n + j}`),
          })),
        }),
        inSession(1, { op: "receive", queue: "q", max: 3 }),
        inSession(2, {
          op: "topic_publish_batch",
          topic: "t",
          messages: [0, 1].map((j) => ({ id: `t-${n + j}`, body: body(`e${j}`) })),
        }),
        inSession(3, {
          op: "publish",
          queue: "fifo",
          message: { body: body("f"), group: `g${round % 3}` },
        }),
      ];
      if (held.length > 0) proposals.push(inSession(1, { op: "ack", queue: "q", receipts: held }));
      if (subHeld.length > 0) {
        proposals.push(inSession(2, {
          op: "subscription_ack",
          topic: "t",
          subscription: "s",
          receipts: subHeld,
        }));
      }
      if (fifoHeld.length > 0) {
        proposals.push(inSession(3, {
          op: "transaction",
          ack: [{ queue: "fifo", receipt: fifoHeld[0] }],
          publish: [{ queue: "q", body: body("moved"), id: `x-${round}` }],
        }));
      }
      const results = entry(proposals);
      // Half the receives' messages are acked next round, the rest lease out and come back.
      held = receiptsOf(results[1]).filter(() => random() < 0.5);
      subHeld = [];
      fifoHeld = [];
      if (round % 2 === 0) {
        const got = entry([
          inSession(2, { op: "subscription_receive", topic: "t", subscription: "s", max: 4 }),
        ]);
        subHeld = receiptsOf(got[0]).slice(0, 3);
        fifoHeld = receiptsOf(entry([inSession(3, { op: "receive", queue: "fifo", max: 2 })])[0]);
      }
      // A client's retry of its last place: answered from the stored answer, applied once.
      if (round % 7 === 0) entry([inSession(1, { op: "receive", queue: "q", max: 3 }, true)]);
      if (round % 11 === 0) entry([{ cmd: { op: "tick" } }]);
      if (round % 5 === 0) await log.append(written.splice(0));
    }
    await log.append(written.splice(0));
    await log.close();

    const reopened = await FileLogStore.open(dir, { log: () => {} });
    const loaded = (await reopened.load()).entries;
    await reopened.close();
    assert.equal(loaded.length, index);
    const replayed = new BrokerMachine();
    for (const e of loaded) replayed.apply(e.index, e.data);
    assert.equal(replayed.state.lastIndex, live.state.lastIndex);
    assert.equal(replayed.state.lastTs, live.state.lastTs);
    assert.ok(live.state.queue("q")!.stats.ready > 0, "the log leaves messages behind");
    assert.deepEqual(snapshotBytes(replayed.state), snapshotBytes(live.state));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
