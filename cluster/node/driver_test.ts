import assert from "node:assert/strict";
import { NodeDriver } from "./driver.ts";
import type { StoragePorts } from "./ports.ts";
import {
  encodeConfChange,
  EntryKind,
  type Message,
  type NodeId,
  type Snapshot,
} from "../raft/mod.ts";
import { wrapSnapshot } from "./membership.ts";
import { enc, ListMachine } from "./_testing_cluster.ts";
import { MemoryHardStateStore, MemoryLogStore, MemorySnapshotStore } from "../storage/mod.ts";

const flush = () => new Promise((r) => setTimeout(r, 0));

/** N drivers in one process: memory storage, a hand-driven ticker, a network that can cut. */
class Cluster {
  drivers = new Map<NodeId, NodeDriver>();
  machines = new Map<NodeId, ListMachine>();
  storages = new Map<NodeId, StoragePorts>();
  tickers = new Map<NodeId, () => void>();
  cut = new Set<NodeId>();
  /** Commit notices waiting for their (hand-fired) timer, with `deferCommitNotice`. */
  notices: (() => void)[] = [];

  constructor(
    readonly ids: NodeId[],
    readonly snapshotEveryEntries = 1000,
    readonly deferCommitNotice = false,
  ) {}

  async open(id: NodeId, joining = false): Promise<NodeDriver> {
    const storage = this.storages.get(id) ?? {
      log: new MemoryLogStore(),
      hardState: new MemoryHardStateStore(),
      snapshots: new MemorySnapshotStore(),
    };
    this.storages.set(id, storage);
    const sm = new ListMachine();
    this.machines.set(id, sm);
    let seed = id.charCodeAt(1) * 7919;
    const d = await NodeDriver.open({
      raft: {
        id,
        clusterId: "test",
        electionTicks: 10,
        heartbeatTicks: 1,
        random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647),
        deferCommitNotice: this.deferCommitNotice,
      },
      ...(this.deferCommitNotice
        ? { startTimer: (_ms: number, fn: () => void) => this.#timer(fn) }
        : {}),
      bootstrapConf: { voters: joining ? [] : this.ids, learners: [] },
      bootstrapUrls: new Map(this.ids.map((i) => [i, `http://${i}`])),
      storage,
      sink: { send: (msgs) => this.#deliver(msgs) },
      stateMachine: sm,
      startTicker: (_ms, fn) => {
        this.tickers.set(id, fn);
        return () => this.tickers.delete(id);
      },
      tickMs: 10,
      snapshotEveryEntries: this.snapshotEveryEntries,
      log: () => {},
      onFatal: (e) => {
        throw e;
      },
    });
    this.drivers.set(id, d);
    return d;
  }

  #timer(fn: () => void): () => void {
    this.notices.push(fn);
    return () => this.notices = this.notices.filter((f) => f !== fn);
  }

  /** Fires the pending commit notices' timers. */
  fireNotices(): void {
    const due = this.notices;
    this.notices = [];
    for (const f of due) f();
  }

  #deliver(msgs: readonly Message[]): void {
    for (const m of msgs) {
      if (this.cut.has(m.from) || this.cut.has(m.to)) continue;
      queueMicrotask(() => this.drivers.get(m.to)?.receive([m]));
    }
  }

  async ticks(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      for (const t of this.tickers.values()) t();
      await flush();
    }
  }

  async leader(): Promise<NodeDriver> {
    for (let i = 0; i < 100; i++) {
      for (const d of this.drivers.values()) {
        if (d.status().role === "leader" && !this.cut.has(d.id)) return d;
      }
      await this.ticks(1);
    }
    throw new Error("No leader within 100 ticks");
  }

  async closeAll(): Promise<void> {
    for (const d of this.drivers.values()) await d.close();
  }
}

Deno.test("NodeDriver.propose() resolves with the state machine's result on a single node", async () => {
  const c = new Cluster(["n1"]);
  await c.open("n1");
  const leader = await c.leader();
  const out = await leader.propose(enc("a"), 1000);
  assert.deepEqual(out, { ok: true, index: out.ok ? out.index : -1, result: 1 });
  assert.deepEqual(c.machines.get("n1")!.items, ["a"]);
  await c.closeAll();
});

Deno.test("NodeDriver replicates to every node and a follower refuses with the leader's id", async () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  for (const id of c.ids) await c.open(id);
  const leader = await c.leader();
  for (let i = 0; i < 5; i++) assert.equal((await leader.propose(enc(`x${i}`), 1000)).ok, true);
  await c.ticks(3);
  for (const id of c.ids) {
    assert.deepEqual(c.machines.get(id)!.items, ["x0", "x1", "x2", "x3", "x4"]);
  }
  const follower = c.drivers.get(c.ids.find((id) => id !== leader.id)!)!;
  assert.deepEqual(await follower.propose(enc("y"), 1000), {
    ok: false,
    reason: "not_leader",
    leaderId: leader.id,
  });
  await c.closeAll();
});

Deno.test("NodeDriver with deferCommitNotice: the next append or the notice's timer brings followers the commit", async () => {
  const c = new Cluster(["n1", "n2", "n3"], 1000, true);
  for (const id of c.ids) await c.open(id);
  const leader = await c.leader();
  await c.ticks(1); // every node knows the commit of the leader's no-op
  const followers = c.ids.filter((id) => id !== leader.id);
  const items = () => followers.map((id) => c.machines.get(id)!.items);
  c.notices = [];

  assert.equal((await leader.propose(enc("a"), 1000)).ok, true);
  for (let i = 0; i < 5; i++) await flush();
  assert.deepEqual(items(), [[], []], "the commit of 'a' is held back");
  assert.equal(c.notices.length, 1, "its notice is due");

  assert.equal((await leader.propose(enc("b"), 1000)).ok, true);
  for (let i = 0; i < 5; i++) await flush();
  assert.deepEqual(items(), [["a"], ["a"]], "the append of 'b' carried the commit of 'a'");
  assert.equal(c.notices.length, 1, "the notice of 'a' was cancelled, that of 'b' is due");

  c.fireNotices();
  for (let i = 0; i < 5; i++) await flush();
  assert.deepEqual(items(), [["a", "b"], ["a", "b"]]);
  assert.equal(c.notices.length, 0);
  await c.closeAll();
});

/** A memory log whose appends wait while `held` (a slow fsync). */
class SlowLog extends MemoryLogStore {
  held = false;
  #waiting: (() => void)[] = [];
  override async append(entries: Parameters<MemoryLogStore["append"]>[0]): Promise<void> {
    if (this.held) await new Promise<void>((r) => this.#waiting.push(r));
    return super.append(entries);
  }
  release(): void {
    this.held = false;
    for (const r of this.#waiting.splice(0)) r();
  }
}

Deno.test("NodeDriver with deferCommitNotice: a commit gets a notice delay of its own, not an older commit's", async () => {
  const c = new Cluster(["n1", "n2", "n3"], 1000, true);
  const logs = new Map(c.ids.map((id) => [id, new SlowLog()]));
  for (const id of c.ids) {
    c.storages.set(id, {
      log: logs.get(id)!,
      hardState: new MemoryHardStateStore(),
      snapshots: new MemorySnapshotStore(),
    });
    await c.open(id);
  }
  const leader = await c.leader();
  await c.ticks(1);
  c.notices = [];
  assert.equal((await leader.propose(enc("a"), 1000)).ok, true);
  for (let i = 0; i < 5; i++) await flush();
  assert.equal(c.notices.length, 1, "the notice of 'a' is due");
  const noticeOfA = c.notices[0];
  // As on a disk: the followers answer the append of 'b' (which carries the commit of 'a') while
  // the leader's own fsync of 'b' still runs; 'b' commits once it is done, in the same loop.
  logs.get(leader.id)!.held = true;
  const b = leader.propose(enc("b"), 1000);
  for (let i = 0; i < 5; i++) await flush();
  logs.get(leader.id)!.release();
  assert.equal((await b).ok, true);
  for (let i = 0; i < 5; i++) await flush();
  assert.equal(c.notices.length, 1, "the notice of 'b' is due");
  assert.notEqual(c.notices[0], noticeOfA, "the timer started for 'a' runs on for 'b'");
  await c.closeAll();
});

Deno.test("NodeDriver.propose() on a cut-off leader ends as unknown_outcome, never as success", async () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  for (const id of c.ids) await c.open(id);
  const leader = await c.leader();
  c.cut.add(leader.id);
  const pending = leader.propose(enc("lost"), 50);
  await c.ticks(10);
  const out = await pending;
  assert.equal(out.ok, false);
  assert.ok(!out.ok && (out.reason === "unknown_outcome" || out.reason === "dropped"));
  for (const id of c.ids) assert.ok(!c.machines.get(id)!.items.includes("lost"));
  await c.closeAll();
});

Deno.test("NodeDriver.readIndex() on a follower covers every write acknowledged before it", async () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  for (const id of c.ids) await c.open(id);
  const leader = await c.leader();
  const w = await leader.propose(enc("w"), 1000);
  assert.ok(w.ok);
  const follower = c.drivers.get(c.ids.find((id) => id !== leader.id)!)!;
  const r = follower.readIndex(1000);
  await c.ticks(3);
  const out = await r;
  assert.ok(out.ok && out.index >= w.index, JSON.stringify(out));
  assert.ok(follower.appliedIndex >= w.index);
  assert.ok(c.machines.get(follower.id)!.items.includes("w"));
  await c.closeAll();
});

Deno.test("NodeDriver restarts from its storage and snapshots: the state is rebuilt", async () => {
  const c = new Cluster(["n1"], 4);
  await c.open("n1");
  const leader = await c.leader();
  for (let i = 0; i < 10; i++) assert.ok((await leader.propose(enc(`s${i}`), 1000)).ok);
  await c.ticks(2); // let the background snapshot finish
  assert.ok((await c.storages.get("n1")!.snapshots.load()) !== undefined, "a snapshot was taken");
  await leader.close();
  await c.open("n1");
  const again = await c.leader();
  assert.ok((await again.propose(enc("after"), 1000)).ok);
  const items = c.machines.get("n1")!.items;
  assert.deepEqual(items, [...Array.from({ length: 10 }, (_, i) => `s${i}`), "after"]);
  await c.closeAll();
});

Deno.test("NodeDriver: a joined node learns the whole membership from the log (chaos F1)", async () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  for (const id of c.ids) await c.open(id);
  const leader = await c.leader();
  assert.ok((await leader.propose(enc("before"), 1000)).ok);
  const joiner = await c.open("n4", true);
  const added = await leader.proposeConfChange({ op: "add_learner", nodeId: "n4" }, 1000);
  assert.ok(added.ok, JSON.stringify(added));
  for (let i = 0; i < 50 && joiner.appliedIndex < leader.appliedIndex; i++) await c.ticks(1);
  const promoted = await leader.proposeConfChange({ op: "promote", nodeId: "n4" }, 1000);
  assert.ok(promoted.ok, JSON.stringify(promoted));
  await c.ticks(5);
  assert.deepEqual([...joiner.status().conf.voters].sort(), ["n1", "n2", "n3", "n4"]);
  assert.deepEqual(c.machines.get("n4")!.items, ["before"]);
  await c.closeAll();
});

Deno.test("NodeDriver.readIndex() on a deposed leader follows the new leader instead of timing out", async () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  for (const id of c.ids) await c.open(id);
  const old = await c.leader();
  // Pause the leader: it neither ticks nor hears anything while the others elect a new one.
  const oldTick = c.tickers.get(old.id)!;
  c.tickers.delete(old.id);
  c.cut.add(old.id);
  const next = await c.leader();
  assert.notEqual(next.id, old.id);
  const w = await next.propose(enc("w"), 1000);
  assert.ok(w.ok);
  // Resume it: it still believes it leads when the read arrives.
  c.cut.delete(old.id);
  c.tickers.set(old.id, oldTick);
  assert.equal(old.status().role, "leader");
  let settled: Awaited<ReturnType<NodeDriver["readIndex"]>> | undefined;
  const read = old.readIndex(1000).then((o) => (settled = o));
  for (let i = 0; i < 30 && settled === undefined; i++) await c.ticks(1);
  // 30 ticks is three election timeouts but a tenth of the read's 100-tick timeout.
  assert.ok(settled !== undefined, "the read waited for its timeout after the leader changed");
  assert.ok(settled.ok && settled.index >= w.index, JSON.stringify(settled));
  assert.ok(c.machines.get(old.id)!.items.includes("w"));
  await read;
  await c.closeAll();
});

/**
 * Memory storage whose hard-state saves wait while the gate is closed, and which records every
 * snapshot saved.
 */
function gatedStorage() {
  let waiting: Promise<void> | undefined;
  let release = () => {};
  const hard = new MemoryHardStateStore();
  const snapshots = new MemorySnapshotStore();
  const saved: Snapshot[] = [];
  const storage: StoragePorts = {
    log: new MemoryLogStore(),
    hardState: {
      load: () => hard.load(),
      save: async (hs) => {
        if (waiting) await waiting;
        await hard.save(hs);
      },
    },
    snapshots: {
      load: () => snapshots.load(),
      save: (s) => {
        saved.push(s);
        return snapshots.save(s);
      },
    },
  };
  const gate = {
    close: () => void (waiting = new Promise((resolve) => release = resolve)),
    open: () => {
      release();
      waiting = undefined;
    },
  };
  return { storage, saved, gate };
}

Deno.test("NodeDriver: its own snapshot records the membership as of the snapshot's index, even when a leader's snapshot arrived meanwhile (Raft §7)", async () => {
  // f follows a. It holds entries 5 (no-op) and 6 (add_learner x); a heartbeat commits them,
  // and while that Ready's hard state is being saved (gated), a's snapshot at 10 arrives, in
  // which x is already a voter. The core takes that snapshot's membership at once, before its
  // Ready; f's own snapshot at 6 must still say x is a learner there.
  const { storage, saved, gate } = gatedStorage();
  const urls = new Map([["a", "http://a"], ["f", "http://f"]]);
  const d = await NodeDriver.open({
    raft: { id: "f", clusterId: "test", electionTicks: 10, heartbeatTicks: 1, random: () => 0.5 },
    bootstrapConf: { voters: ["a", "f"], learners: [] },
    bootstrapUrls: urls,
    storage,
    sink: { send: () => {} },
    stateMachine: new ListMachine(),
    startTicker: () => () => {},
    tickMs: 10,
    snapshotEveryEntries: 2,
    log: () => {},
    onFatal: (e) => {
      throw e;
    },
  });
  await flush();
  const from = { clusterId: "test", from: "a", to: "f", term: 2 } as const;
  const addX = encodeConfChange({ op: "add_learner", nodeId: "x" });
  d.receive([{
    ...from,
    type: "append",
    logTerm: 1,
    index: 4,
    commit: 4,
    entries: [
      { index: 5, term: 2, kind: EntryKind.Normal, data: new Uint8Array() },
      { index: 6, term: 2, kind: EntryKind.ConfChange, data: addX },
    ],
  }]);
  await flush();
  gate.close();
  d.receive([{ ...from, type: "heartbeat", logTerm: 0, index: 0, commit: 6 }]);
  await flush();
  const conf10 = { voters: ["a", "f", "x"], learners: [] };
  const data = await wrapSnapshot([...urls], enc(JSON.stringify(["s"])), () => Promise.resolve());
  const meta = { index: 10, term: 2, conf: conf10 };
  d.receive([{
    ...from,
    type: "snapshot",
    logTerm: 0,
    index: 0,
    commit: 0,
    snapshotIndex: 10,
    snapshot: { meta, offset: 0, data, totalBytes: data.length, done: true },
  }]);
  await flush();
  gate.open();
  for (let i = 0; i < 5; i++) await flush();
  const own = saved.find((s) => s.meta.index === 6);
  assert.ok(own !== undefined, `no snapshot at 6: ${saved.map((s) => s.meta.index)}`);
  assert.deepEqual(own.meta.conf, { voters: ["a", "f"], learners: ["x"] });
  assert.equal(d.appliedIndex, 10);
  await d.close();
});
