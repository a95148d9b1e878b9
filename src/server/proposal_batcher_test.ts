import assert from "node:assert/strict";
import { NodeDriver } from "../../cluster/node/mod.ts";
import {
  MemoryHardStateStore,
  MemoryLogStore,
  MemorySnapshotStore,
} from "../../cluster/storage/mod.ts";
import {
  BATCH_BOUNDS,
  BrokerState,
  type DecodedEntry,
  decodeEntry,
  encodeEnvelope,
  EntryClock,
  type Proposal,
  type Result,
} from "../broker/mod.ts";
import type { ProposeOutcome } from "../http/mod.ts";
import { BrokerMachine } from "./broker_machine.ts";
import { RaftNode } from "./raft_node.ts";

const flush = () => new Promise((r) => setTimeout(r, 0));
const body = (s: string) => new TextEncoder().encode(s);

/** A one-node cluster on memory storage with a hand-driven ticker, led by its node. */
async function oneNode(machine = new BrokerMachine()) {
  let tick: () => void = () => {};
  const entries: Uint8Array[] = [];
  const driver = await NodeDriver.open({
    raft: { id: "a", clusterId: "t", electionTicks: 10, heartbeatTicks: 1, random: () => 0.5 },
    bootstrapConf: { voters: ["a"], learners: [] },
    bootstrapUrls: new Map([["a", "http://a"]]),
    storage: {
      log: new MemoryLogStore(),
      hardState: new MemoryHardStateStore(),
      snapshots: new MemorySnapshotStore(),
    },
    sink: { send: () => {} },
    stateMachine: {
      apply: (index, data) => {
        entries.push(data);
        return machine.apply(index, data);
      },
      snapshot: (pace) => machine.snapshot(pace),
      restore: (data, pace) => machine.restore(data, pace),
    },
    startTicker: (_ms, fn) => {
      tick = fn;
      return () => {};
    },
    tickMs: 10,
    snapshotEveryEntries: 1_000_000,
    log: () => {},
    onFatal: (e) => {
      throw e;
    },
  });
  const clock = new EntryClock({
    monoNowMs: () => 0,
    wallNowMs: () => 1_000_000,
    lastEntryTs: () => machine.lastTs,
  });
  driver.onApplied(() => clock.observe());
  const node = new RaftNode(driver, machine, clock, { memoryStorage: true, canAddMembers: false });
  for (let i = 0; i < 100 && driver.status().role !== "leader"; i++) {
    tick();
    await flush();
  }
  assert.equal(driver.status().role, "leader");
  // The leader's no-op, then the first entries below.
  for (let i = 0; i < 20 && driver.appliedIndex < driver.status().lastIndex; i++) await flush();
  entries.length = 0;
  return { driver, node, machine, entries };
}

function results(outcomes: ProposeOutcome[]): Result[] {
  return outcomes.map((o) => {
    assert.ok(o.ok, JSON.stringify(o));
    return o.result as Result;
  });
}

/** The same proposals applied as consecutive single-envelope entries, as before batching. */
function applyOneByOne(setup: Proposal[], proposals: Proposal[]): Result[] {
  const state = new BrokerState();
  let index = 1;
  for (const p of setup) state.applyEntry(++index, encodeEnvelope({ ts: 1_000_000, ...p }));
  index++; // the entry the batch replaces starts after the set-up
  return proposals.map((p) =>
    state.applyEntry(++index, encodeEnvelope({ ts: 1_000_000, ...p })) as Result
  );
}

const SETUP: Proposal[] = [
  { cmd: { op: "queue_put", queue: "q", options: { dedupWindowMs: 60_000 } } },
];

/** Neighbours that touch each other's state: a repeated id, a repeated key, a failure between. */
const MIXED: Proposal[] = [
  { cmd: { op: "publish", queue: "q", message: { id: "a", body: body("1") } } },
  { cmd: { op: "publish", queue: "missing", message: { body: body("x") } } },
  { cmd: { op: "publish", queue: "q", message: { id: "a", body: body("1") } } },
  {
    cmd: { op: "publish", queue: "q", message: { body: body("2") } },
    idem: { key: "k", fingerprint: "f" },
  },
  {
    cmd: { op: "publish", queue: "q", message: { body: body("2") } },
    idem: { key: "k", fingerprint: "f" },
  },
  {
    cmd: { op: "publish", queue: "q", message: { body: body("3") } },
    idem: { key: "k", fingerprint: "other" },
  },
  { cmd: { op: "publish", queue: "q", message: { id: "", body: body("bad id") } } },
  { cmd: { op: "receive", queue: "q", max: 10 } },
];

Deno.test("proposals made in one turn are one entry; each gets the result it would get alone", async () => {
  const { driver, node, entries } = await oneNode();
  for (const p of SETUP) assert.ok((await node.propose(p, { timeoutMs: 1000 })).ok);
  const before = driver.appliedIndex;
  entries.length = 0;
  const out = await Promise.all(MIXED.map((p) => node.propose(p, { timeoutMs: 1000 })));
  assert.equal(driver.appliedIndex, before + 1, "one entry for the whole turn");
  assert.equal(entries.length, 1);
  assert.equal(entries[0][0], 2, "a batch entry (envelope version 2)");
  const got = results(out);
  const alone = applyOneByOne(SETUP, MIXED);
  // Receipts name the entry time and ordinal, not the index: equal too.
  assert.deepEqual(got, alone);
  // And they are what the promises say (not merely equal to each other).
  assert.ok(got[0].ok && "duplicate" in got[0] && !got[0].duplicate);
  assert.equal(!got[1].ok && got[1].reason, "queue_not_found");
  assert.ok(got[2].ok && "duplicate" in got[2] && got[2].duplicate);
  assert.ok(got[3].ok && got[3].replayed === undefined);
  assert.ok(got[4].ok && got[4].replayed === true);
  assert.equal(!got[5].ok && got[5].reason, "idempotency_conflict");
  assert.equal(!got[6].ok && got[6].reason, "invalid_request");
  assert.ok(got[7].ok && "messages" in got[7] && got[7].messages.length === 2);
  await driver.close();
});

Deno.test("session_open goes alone: every session id is its own entry's index, never shared", async () => {
  const { driver, node, entries } = await oneNode();
  for (const p of SETUP) assert.ok((await node.propose(p, { timeoutMs: 1000 })).ok);
  const first = driver.appliedIndex + 1;
  entries.length = 0;
  const publish = (b: string): Proposal => ({
    cmd: { op: "publish", queue: "q", message: { body: body(b) } },
  });
  const open: Proposal = { cmd: { op: "session_open" } };
  const out = results(
    await Promise.all(
      [publish("1"), publish("2"), open, open, publish("3")].map((p) =>
        node.propose(p, { timeoutMs: 1000 })
      ),
    ),
  );
  // [1, 2] [open] [open] [3]
  assert.deepEqual(entries.map((e) => e[0]), [2, 1, 1, 1]);
  const ids = out.slice(2, 4).map((r) => r.ok && "session" in r ? r.session : -1);
  assert.deepEqual(ids, [first + 1, first + 2]);
  // Both sessions work on their own.
  for (const id of ids) {
    const w = await node.propose({ ...publish("s"), session: { id, seq: 1, lowest: 1 } }, {
      timeoutMs: 1000,
    });
    assert.ok(w.ok && (w.result as Result).ok, JSON.stringify(w));
  }
  await driver.close();
});

Deno.test("a batch is bounded in count and bytes; what does not fit goes into the next entry", async () => {
  const { driver, node, entries } = await oneNode();
  for (const p of SETUP) assert.ok((await node.propose(p, { timeoutMs: 1000 })).ok);
  entries.length = 0;
  const n = BATCH_BOUNDS.maxItems * 2 + 3;
  const small = Array.from({ length: n }, (_, i): Proposal => ({
    cmd: { op: "publish", queue: "q", message: { body: body(`m${i}`) } },
  }));
  const big: Proposal = {
    cmd: { op: "publish", queue: "q", message: { body: new Uint8Array(BATCH_BOUNDS.maxBytes) } },
  };
  const out = results(
    await Promise.all([...small, big, small[0]].map((p) => node.propose(p, { timeoutMs: 1000 }))),
  );
  assert.ok(out.every((r) => r.ok));
  // maxItems, maxItems, the rest of the small ones, the big one alone, then the last one.
  assert.equal(entries.length, 5);
  assert.ok(entries.every((e) => e.length <= BATCH_BOUNDS.maxBytes + 1024));
  assert.equal(entries[3][0], 1, "the one bigger than the byte bound is an entry of its own");
  const seqs = out.map((r) => r.ok && "seq" in r ? r.seq : -1);
  assert.deepEqual(seqs, seqs.toSorted((a, b) => a - b), "arrival order kept");
  await driver.close();
});

Deno.test("a proposal queued when the driver closes is answered, not left waiting", async () => {
  const { driver, node } = await oneNode();
  const pending = node.propose({ cmd: { op: "tick" } }, { timeoutMs: 1000 });
  await driver.close();
  assert.deepEqual(await pending, { ok: false, reason: "unknown_outcome" });
});

Deno.test("proposals with another timeout go into another entry, each kept to its own", async () => {
  const { driver, node, entries } = await oneNode();
  const out = await Promise.all([
    node.propose({ cmd: { op: "tick" } }, { timeoutMs: 1000 }),
    node.propose({ cmd: { op: "tick" } }, { timeoutMs: 1000 }),
    node.propose({ cmd: { op: "tick" } }, { timeoutMs: 5000 }),
  ]);
  assert.ok(out.every((o) => o.ok));
  assert.deepEqual(entries.map((e) => e[0]), [2, 1]);
  await driver.close();
});

Deno.test("the node counts proposals and the entries that carried them (/metrics)", async () => {
  const { driver, node } = await oneNode();
  await Promise.all(
    [1, 2, 3].map(() => node.propose({ cmd: { op: "tick" } }, { timeoutMs: 1000 })),
  );
  assert.deepEqual(node.metrics().proposals, { proposals: 3, entries: 1 });
  await driver.close();
});

Deno.test("the leader applies the entries it proposes from the proposals it kept", async () => {
  const kept: Uint8Array[] = [];
  const machine = new class extends BrokerMachine {
    override proposed(data: Uint8Array, entry: DecodedEntry | undefined): void {
      assert.ok(entry !== undefined);
      kept.push(data);
      assert.deepStrictEqual(entry, decodeEntry(data));
      super.proposed(data, entry);
    }
  }();
  const { node, entries } = await oneNode(machine);
  for (const p of SETUP) assert.ok((await node.propose(p, { timeoutMs: 1000 })).ok);
  const out = await Promise.all(MIXED.map((p) => node.propose(p, { timeoutMs: 1000 })));
  assert.deepEqual(results(out), applyOneByOne(SETUP, MIXED));
  // The driver hands apply the very bytes the batcher proposed: the machine finds what it kept.
  assert.equal(entries.length, SETUP.length + 1);
  entries.forEach((data, i) => assert.equal(data, kept[i]));
});
