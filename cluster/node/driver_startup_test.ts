/**
 * Start-up with a snapshot: the state machine restores in the background while the node already
 * takes part in Raft (votes, appends), and nothing counts as applied before the restore is done.
 */
import assert from "node:assert/strict";
import { NodeDriver } from "./driver.ts";
import type { SnapshotView, StateMachine, StoragePorts } from "./ports.ts";
import type { Message, NodeId } from "../raft/mod.ts";
import { MemoryHardStateStore, MemoryLogStore, MemorySnapshotStore } from "../storage/mod.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const flush = () => new Promise((r) => setTimeout(r, 0));

/**
 * A list of commands whose restore waits until the test opens `gate`; its captures wait for
 * `captureGate` when one is set. `appliesSincePace` counts applies since the last `pace()`.
 */
class GatedMachine implements StateMachine {
  items: string[] = [];
  restoring = false;
  capturing = false;
  captureGate: Promise<void> | undefined;
  appliesSincePace = 0;
  mostAppliesBetweenPaces = 0;
  bytesSincePace = 0;
  mostBytesBetweenPaces = 0;
  #open!: () => void;
  readonly gate = new Promise<void>((resolve) => this.#open = resolve);

  constructor(readonly gated: boolean) {
    if (!gated) this.#open();
  }

  release(): void {
    this.#open();
  }

  apply(_index: number, data: Uint8Array): unknown {
    assert.equal(this.restoring, false, "an entry applied during a restore");
    assert.equal(this.capturing, false, "an entry applied during a capture");
    this.items.push(dec(data));
    this.appliesSincePace++;
    this.mostAppliesBetweenPaces = Math.max(this.mostAppliesBetweenPaces, this.appliesSincePace);
    this.bytesSincePace += data.length;
    this.mostBytesBetweenPaces = Math.max(this.mostBytesBetweenPaces, this.bytesSincePace);
    return this.items.length;
  }

  async snapshot(): Promise<SnapshotView> {
    this.capturing = true;
    await this.captureGate;
    this.capturing = false;
    const copy = JSON.stringify(this.items);
    return { serialize: () => enc(copy) };
  }

  async restore(data: Uint8Array): Promise<void> {
    this.restoring = true;
    await this.gate;
    this.items = JSON.parse(dec(data));
    this.restoring = false;
  }
}

/** Three drivers in one process over memory storage kept across restarts. */
class Cluster {
  readonly ids: NodeId[] = ["n1", "n2", "n3"];
  drivers = new Map<NodeId, NodeDriver>();
  machines = new Map<NodeId, GatedMachine>();
  storages = new Map<NodeId, StoragePorts>();
  tickers = new Map<NodeId, () => void>();
  cut = new Set<NodeId>();
  /** What each driver logged, in order. */
  events: { id: NodeId; event: string; details: Record<string, unknown> }[] = [];

  constructor(readonly snapshotEveryEntries = 5) {}

  async open(id: NodeId, gated = false): Promise<NodeDriver> {
    const storage = this.storages.get(id) ?? {
      log: new MemoryLogStore(),
      hardState: new MemoryHardStateStore(),
      snapshots: new MemorySnapshotStore(),
    };
    this.storages.set(id, storage);
    const sm = new GatedMachine(gated);
    this.machines.set(id, sm);
    let seed = id.charCodeAt(1) * 7919 + this.drivers.size;
    const d = await NodeDriver.open({
      raft: {
        id,
        clusterId: "test",
        electionTicks: 10,
        heartbeatTicks: 1,
        random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647),
      },
      bootstrapConf: { voters: this.ids, learners: [] },
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
      log: (_level, event, details) => this.events.push({ id, event, details: details ?? {} }),
      pace: () => {
        sm.appliesSincePace = 0;
        sm.bytesSincePace = 0;
        return Promise.resolve();
      },
      onFatal: (e) => {
        throw e;
      },
    });
    this.drivers.set(id, d);
    return d;
  }

  /** Opens `id` and fails (instead of hanging) when the open waits on the gated restore. */
  async openGated(id: NodeId): Promise<NodeDriver> {
    let opened: NodeDriver | undefined;
    const p = this.open(id, true).then((d) => opened = d);
    for (let i = 0; i < 50 && opened === undefined; i++) await flush();
    assert.ok(opened !== undefined, `opening ${id} waited for its state machine's restore`);
    await p;
    return opened;
  }

  async close(id: NodeId): Promise<void> {
    await this.drivers.get(id)!.close();
    this.drivers.delete(id);
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
    for (let i = 0; i < 200; i++) {
      for (const d of this.drivers.values()) {
        if (d.status().role === "leader" && !this.cut.has(d.id)) return d;
      }
      await this.ticks(1);
    }
    throw new Error("No leader within 200 ticks");
  }

  /** A cluster that committed `n` commands and took snapshots of them. */
  static async withHistory(n: number): Promise<Cluster> {
    const c = new Cluster();
    for (const id of c.ids) await c.open(id);
    const leader = await c.leader();
    for (let i = 0; i < n; i++) assert.equal((await leader.propose(enc(`x${i}`), 1000)).ok, true);
    await c.ticks(5);
    return c;
  }
}

Deno.test("NodeDriver: a restarted follower appends and acknowledges entries while its state machine restores", async () => {
  const c = await Cluster.withHistory(20);
  const leader = await c.leader();
  const [f1, f2] = c.ids.filter((id) => id !== leader.id);
  await c.close(f1);
  const d = await c.openGated(f1);
  assert.ok((await c.storages.get(f1)!.snapshots.load()) !== undefined, "no snapshot to restore");
  // Only the restarted follower can make a quorum with the leader now.
  c.cut.add(f2);
  const proposed = leader.propose(enc("during-restore"), 5000);
  let outcome: Awaited<typeof proposed> | undefined;
  proposed.then((o) => outcome = o);
  for (let i = 0; i < 50 && outcome === undefined; i++) await c.ticks(1);
  assert.deepEqual(outcome && { ok: outcome.ok }, { ok: true }, "no commit while f1 restored");
  // Nothing is applied on f1 before its restore is done: a read there must wait.
  assert.equal(d.appliedIndex, 0);
  assert.equal(d.restoring, true);
  assert.equal(c.machines.get(f1)!.restoring, true);
  let readDone = false;
  const read = d.readIndex(5000).then((r) => (readDone = true, r));
  await c.ticks(5);
  assert.equal(readDone, false, "a read was answered from a state not yet restored");
  c.machines.get(f1)!.release();
  assert.equal((await read).ok, true);
  assert.equal(d.restoring, false);
  for (let i = 0; i < 50 && c.machines.get(f1)!.items.length < 21; i++) await c.ticks(1);
  assert.deepEqual(c.machines.get(f1)!.items, c.machines.get(leader.id)!.items);
  assert.equal(c.machines.get(f1)!.items.at(-1), "during-restore");
  for (const id of [...c.drivers.keys()]) await c.close(id);
});

Deno.test("NodeDriver: after a full restart a leader is elected while every state machine still restores", async () => {
  const c = await Cluster.withHistory(20);
  for (const id of c.ids) await c.close(id);
  for (const id of c.ids) await c.openGated(id);
  const leader = await c.leader();
  for (const id of c.ids) assert.equal(c.machines.get(id)!.restoring, true);
  for (const id of c.ids) c.machines.get(id)!.release();
  assert.equal((await leader.propose(enc("after"), 5000)).ok, true);
  for (let i = 0; i < 50 && c.ids.some((id) => c.machines.get(id)!.items.length < 21); i++) {
    await c.ticks(1);
  }
  for (const id of c.ids) assert.equal(c.machines.get(id)!.items.length, 21, id);
  for (const id of [...c.drivers.keys()]) await c.close(id);
});

Deno.test("NodeDriver: entries that piled up while a capture held the apply worker are applied with turns between slices", async () => {
  const c = new Cluster(30);
  for (const id of c.ids) await c.open(id);
  const leader = await c.leader();
  const sm = c.machines.get(leader.id)!;
  let open!: () => void;
  sm.captureGate = new Promise<void>((r) => open = r);
  // 30 entries make a snapshot due; its capture then waits while 300 more commit one by one.
  const all: Promise<unknown>[] = [];
  for (let i = 0; i < 330; i++) {
    all.push(leader.propose(enc(`x${i}`), 60_000));
    await c.ticks(1);
  }
  assert.equal(sm.capturing, true, "no capture held the worker");
  sm.mostAppliesBetweenPaces = 0;
  open();
  await Promise.all(all);
  assert.equal(sm.items.length, 330);
  assert.ok(
    sm.mostAppliesBetweenPaces <= 64,
    `${sm.mostAppliesBetweenPaces} entries applied without a pace() between them`,
  );
  for (const id of [...c.drivers.keys()]) await c.close(id);
});

Deno.test("NodeDriver: a restart replays large entries with a pace() every 64 KiB or so", async () => {
  // Entries carry batches of proposals: 64 of 8 KiB each hold the loop 8 times longer than 64
  // small ones (a replay after a full restart timed peer handshakes out under load).
  const c = new Cluster(10_000);
  for (const id of c.ids) await c.open(id);
  const leader = await c.leader();
  const all: Promise<unknown>[] = [];
  for (let i = 0; i < 200; i++) all.push(leader.propose(enc(`${i}:`.padEnd(8192, "x")), 60_000));
  await Promise.all(all);
  await c.ticks(5);
  for (const id of c.ids) await c.close(id);
  for (const id of c.ids) await c.open(id);
  await c.leader();
  const sm = c.machines.get("n1")!;
  for (let i = 0; i < 200 && sm.items.length < 200; i++) await c.ticks(1);
  assert.equal(sm.items.length, 200);
  // A slice ends after the entry that reaches 64 KiB.
  assert.ok(
    sm.mostBytesBetweenPaces <= 64 * 1024 + 8192,
    `${sm.mostBytesBetweenPaces} bytes of entries applied without a pace() between them`,
  );
  for (const id of c.ids) await c.close(id);
});

Deno.test("NodeDriver: a restart logs when its replay reached the saved commit and the log's end", async () => {
  // The commit is saved every snapshotEveryEntries / 4 entries: 30 entries leave a saved commit
  // behind the log's end, so the rest applies only once a leader commits an entry of its term.
  const c = new Cluster(100);
  for (const id of c.ids) await c.open(id);
  const leader = await c.leader();
  for (let i = 0; i < 30; i++) assert.equal((await leader.propose(enc(`x${i}`), 1000)).ok, true);
  await c.ticks(5);
  for (const id of c.ids) await c.close(id);
  c.events = [];
  for (const id of c.ids) await c.open(id);
  await c.leader();
  const sm = c.machines.get("n1")!;
  for (let i = 0; i < 200 && sm.items.length < 30; i++) await c.ticks(1);
  assert.equal(sm.items.length, 30);
  const mine = c.events.filter((e) => e.id === "n1");
  const started = mine.find((e) => e.event === "node_started")!.details;
  const committed = mine.find((e) => e.event === "replay_committed")?.details;
  const done = mine.find((e) => e.event === "replay_done")?.details;
  assert.ok(
    committed !== undefined && done !== undefined,
    JSON.stringify(mine.map((e) => e.event)),
  );
  assert.equal(committed.index, started.commit);
  assert.ok((started.commit as number) < (done.index as number), "the saved commit is behind");
  assert.ok((done.applied as number) >= (done.index as number));
  assert.ok(
    mine.findIndex((e) => e.event === "replay_committed") <
      mine.findIndex((e) => e.event === "replay_done"),
  );
  for (const id of c.ids) await c.close(id);
});
