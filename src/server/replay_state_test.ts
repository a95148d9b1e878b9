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
import { Prng } from "../../test/sim/prng.ts";

const body = (s: string) => new TextEncoder().encode(s);
const receiptsOf = (r: Result | undefined): string[] =>
  ((r as { messages?: { receipt: string }[] } | undefined)?.messages ?? []).map((m) => m.receipt);

/** Entries of a chaos run's shape, applied as a leader applies them and kept for the log. */
class ChaosLog {
  readonly #prng = new Prng(12);
  readonly random = () => this.#prng.next();
  index = 0;
  ts = 1_700_000_000_000;
  written: { index: number; term: number; kind: EntryKind; data: Uint8Array }[] = [];
  sessions: { id: number; seq: number }[] = [];
  held: string[] = [];
  subHeld: string[] = [];
  fifoHeld: string[] = [];

  constructor(readonly live: BrokerMachine) {}

  /** Applies one entry of `proposals` as the leader does (kept) and keeps it; its results. */
  entry(proposals: Proposal[]): (Result | undefined)[] {
    this.ts += Math.floor(this.random() * 400);
    const stamp = { ts: this.ts };
    const run = proposals.map(packProposal);
    const data = encodeEntry(stamp, run);
    const own = ownEntry(stamp, run);
    if (own !== undefined) this.live.keep(data, own);
    const r = this.live.apply(++this.index, data);
    this.written.push({ index: this.index, term: 1, kind: EntryKind.Normal, data });
    return r instanceof BatchResults ? [...r.results] : [r as Result | undefined];
  }

  /** `cmd` at session `k`'s next place, or at its last one again (a client's retry). */
  inSession(k: number, cmd: Proposal["cmd"], repeat = false): Proposal {
    const s = this.sessions[k];
    if (!repeat) s.seq++;
    return { cmd, session: { id: s.id, seq: s.seq, lowest: Math.max(0, s.seq - 3) } };
  }

  setUp(): void {
    this.entry([{ cmd: { op: "queue_put", queue: "q", options: { leaseMs: 1500 } } }]);
    this.entry([{
      cmd: { op: "queue_put", queue: "fifo", options: { fifo: true, leaseMs: 1500 } },
    }]);
    this.entry([{ cmd: { op: "topic_put", topic: "t", options: {} } }]);
    this.entry([{ cmd: { op: "subscription_put", topic: "t", subscription: "s", options: {} } }]);
    this.sessions = [0, 1, 2, 3].map(() => {
      this.entry([{ cmd: { op: "session_open", timeoutMs: 60_000 } }]);
      return { id: this.index, seq: 0 };
    });
  }

  /** One round: a batch entry of every kind of write, then receives, retries and ticks. */
  round(round: number): void {
    const n = round * 4;
    const proposals: Proposal[] = [
      this.inSession(0, {
        op: "publish_batch",
        queue: "q",
        // The last id is a repeat of the round before: deduplicated.
        messages: [0, 1, 2, 3].map((j) => ({
          id: `q-${j === 3 && round > 0 ? n - 4 : n + j}`,
          body: body(`m${n + j}`),
        })),
      }),
      this.inSession(1, { op: "receive", queue: "q", max: 3 }),
      this.inSession(2, {
        op: "topic_publish_batch",
        topic: "t",
        messages: [0, 1].map((j) => ({ id: `t-${n + j}`, body: body(`e${j}`) })),
      }),
      this.inSession(3, {
        op: "publish",
        queue: "fifo",
        message: { body: body("f"), group: `g${round % 3}` },
      }),
    ];
    if (this.held.length > 0) {
      proposals.push(this.inSession(1, { op: "ack", queue: "q", receipts: this.held }));
    }
    if (this.subHeld.length > 0) {
      proposals.push(this.inSession(2, {
        op: "subscription_ack",
        topic: "t",
        subscription: "s",
        receipts: this.subHeld,
      }));
    }
    if (this.fifoHeld.length > 0) {
      proposals.push(this.inSession(3, {
        op: "transaction",
        ack: [{ queue: "fifo", receipt: this.fifoHeld[0] }],
        publish: [{ queue: "q", body: body("moved"), id: `x-${round}` }],
      }));
    }
    const results = this.entry(proposals);
    this.afterRound(round, results);
  }

  /** Half the receives' messages are acked next round, the rest lease out and come back. */
  afterRound(round: number, results: (Result | undefined)[]): void {
    this.held = receiptsOf(results[1]).filter(() => this.random() < 0.5);
    this.subHeld = [];
    this.fifoHeld = [];
    if (round % 2 === 0) {
      const sub = { op: "subscription_receive", topic: "t", subscription: "s", max: 4 } as const;
      this.subHeld = receiptsOf(this.entry([this.inSession(2, sub)])[0]).slice(0, 3);
      const fifo = { op: "receive", queue: "fifo", max: 2 } as const;
      this.fifoHeld = receiptsOf(this.entry([this.inSession(3, fifo)])[0]);
    }
    // A client's retry of its last place: answered from the stored answer, applied once.
    if (round % 7 === 0) {
      this.entry([this.inSession(1, { op: "receive", queue: "q", max: 3 }, true)]);
    }
    if (round % 11 === 0) this.entry([{ cmd: { op: "tick" } }]);
  }
}

Deno.test("a replay of the log from its file gives the state the leader applied live, byte for byte", async () => {
  const dir = await Deno.makeTempDir({ prefix: "qq_replay_state_" });
  try {
    const log = await FileLogStore.open(dir, { log: () => {} });
    const live = new BrokerMachine();
    const chaos = new ChaosLog(live);
    chaos.setUp();
    for (let round = 0; round < 300; round++) {
      chaos.round(round);
      if (round % 5 === 0) await log.append(chaos.written.splice(0));
    }
    await log.append(chaos.written.splice(0));
    await log.close();

    const reopened = await FileLogStore.open(dir, { log: () => {} });
    const loaded = (await reopened.load()).entries;
    await reopened.close();
    assert.equal(loaded.length, chaos.index);
    const replayed = new BrokerMachine();
    for (const e of loaded) replayed.apply(e.index, e.data);
    assert.equal(replayed.state.lastIndex, live.state.lastIndex);
    assert.equal(replayed.state.lastTs, live.state.lastTs);
    assert.ok(live.state.queue("q")!.stats.ready > 0, "the log leaves messages behind");
    assert.ok(live.state.queue("fifo")!.stats.acked > 100, "transactions moved messages");
    assert.deepEqual(snapshotBytes(replayed.state), snapshotBytes(live.state));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
