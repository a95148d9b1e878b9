/**
 * The driver's snapshot path with an application that works in steps: parts from `serialize`,
 * an asynchronous `restore`, and the `pace` port between steps.
 */
import assert from "node:assert/strict";
import { NodeDriver } from "./driver.ts";
import type { Pace, SnapshotView, StateMachine, StoragePorts } from "./ports.ts";
import type { Message, NodeId, Snapshot, SnapshotData } from "../raft/mod.ts";
import {
  FileSnapshotStore,
  MemoryHardStateStore,
  MemoryLogStore,
  MemorySnapshotStore,
} from "../storage/mod.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const flush = () => new Promise((r) => setTimeout(r, 0));

/**
 * A list of applied commands, snapshotted as one part per item and restored one item per step,
 * each step a real macrotask: `applyDuringRestore` counts entries applied while a restore runs.
 */
class SteppedMachine implements StateMachine {
  items: string[] = [];
  restoring = false;
  restores = 0;
  applyDuringRestore = 0;
  /** Whether views offer `stream`, and how many times each way of encoding was used. */
  streams = false;
  serialized = 0;
  streamed = 0;

  apply(_index: number, data: Uint8Array): unknown {
    if (this.restoring) this.applyDuringRestore++;
    this.items.push(dec(data));
    return this.items.length;
  }

  snapshot(): SnapshotView {
    const copy = [...this.items];
    const stream = async function* (this: SteppedMachine, pace: Pace) {
      this.streamed++;
      for (const item of copy) {
        yield enc(`${item}\n`);
        await pace();
      }
    };
    return {
      ...(this.streams ? { stream: stream.bind(this) } : {}),
      serialize: async (pace: Pace) => {
        this.serialized++;
        const parts: Uint8Array[] = [];
        for (const item of copy) {
          parts.push(enc(`${item}\n`));
          await pace();
        }
        return parts;
      },
    };
  }

  async restore(data: Uint8Array, pace: Pace): Promise<void> {
    this.restoring = true;
    const next: string[] = [];
    for (const item of dec(data).split("\n").filter((s) => s !== "")) {
      next.push(item);
      await pace();
      await flush();
    }
    this.items = next;
    this.restoring = false;
    this.restores++;
  }

  /** Data read from a stored snapshot, restored like its bytes (the driver's wiring is tested). */
  storedData: SnapshotData[] = [];
  async restoreStored(data: SnapshotData, pace: Pace): Promise<void> {
    this.storedData.push(data);
    await this.restore(data.subarray(0, data.byteLength), pace);
  }
}

class Cluster {
  drivers = new Map<NodeId, NodeDriver>();
  machines = new Map<NodeId, SteppedMachine>();
  tickers = new Map<NodeId, () => void>();
  cut = new Set<NodeId>();
  paces = 0;
  /** `snapshot_taken` events of every node: its id, the snapshot's index and size. */
  snapshots: { id: NodeId; index: number; bytes: number }[] = [];
  /** Each node's storage, kept across a restart (`open` again after `close`). */
  storages = new Map<NodeId, StoragePorts>();
  /** With a directory, snapshots go to a `FileSnapshotStore` per node in it. */
  snapshotDir: string | undefined;
  /** The snapshot each node's store loaded at its last start. */
  loaded = new Map<NodeId, Snapshot | undefined>();
  /** File snapshots saved part by part as the machine encodes them (`saveStream`, `stream`). */
  streams = false;
  /** File snapshots restored from their files (`open`, `openSaved`, `restoreStored`). */
  opens = false;

  constructor(
    readonly ids: NodeId[],
    readonly snapshotEveryEntries: number,
    readonly snapshotLogFactor = 0,
    readonly snapshotEntriesMax?: number,
    readonly snapshotLogBytesMax?: number,
  ) {}

  #snapshotStore(id: NodeId): StoragePorts["snapshots"] {
    if (this.snapshotDir === undefined) return new MemorySnapshotStore();
    const files = new FileSnapshotStore(`${this.snapshotDir}/${id}`);
    return {
      load: async () => {
        const s = await files.load();
        this.loaded.set(id, s);
        return s;
      },
      save: (s) => files.save(s),
      saveParts: (meta, parts) => files.saveParts(meta, parts),
      ...(this.streams
        ? { saveStream: (meta, parts: AsyncIterable<Uint8Array>) => files.saveStream(meta, parts) }
        : {}),
      stored: () => files.stored(),
      ...(this.opens ? { open: () => files.open(), openSaved: (m) => files.openSaved(m) } : {}),
    };
  }

  async open(id: NodeId): Promise<NodeDriver> {
    const storage: StoragePorts = this.storages.get(id) ?? {
      log: new MemoryLogStore(),
      hardState: new MemoryHardStateStore(),
      snapshots: this.#snapshotStore(id),
    };
    this.storages.set(id, storage);
    const sm = new SteppedMachine();
    sm.streams = this.streams;
    this.machines.set(id, sm);
    let seed = id.charCodeAt(1) * 7919;
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
      snapshotLogFactor: this.snapshotLogFactor,
      ...(this.snapshotEntriesMax ? { snapshotEntriesMax: this.snapshotEntriesMax } : {}),
      ...(this.snapshotLogBytesMax ? { snapshotLogBytesMax: this.snapshotLogBytesMax } : {}),
      log: (_level, event, details) => {
        if (event === "snapshot_taken") {
          this.snapshots.push({
            id,
            index: details?.index as number,
            bytes: details?.bytes as number,
          });
        }
      },
      onFatal: (e) => {
        throw e;
      },
      pace: () => {
        this.paces++;
        return Promise.resolve();
      },
    });
    this.drivers.set(id, d);
    return d;
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
}

Deno.test("NodeDriver awaits an asynchronous restore before applying the entries after it", async () => {
  const c = new Cluster(["n1", "n2", "n3"], 10);
  for (const id of c.ids) await c.open(id);
  const leader = await c.leader();
  const lagging = c.ids.find((id) => id !== leader.id)!;
  c.cut.add(lagging);
  for (let i = 0; i < 40; i++) assert.equal((await leader.propose(enc(`x${i}`), 1000)).ok, true);
  await c.ticks(5); // the background snapshot finishes, the leader compacts its log
  assert.ok(c.paces > 0, "the snapshot's serialize never paced");
  c.cut.delete(lagging);
  // Entries keep arriving while the lagging node installs the snapshot and restores it.
  for (let i = 40; i < 50; i++) assert.equal((await leader.propose(enc(`x${i}`), 1000)).ok, true);
  const machine = c.machines.get(lagging)!;
  for (let i = 0; i < 200 && machine.items.length < 50; i++) await c.ticks(1);
  assert.ok(machine.restores >= 1, "the lagging node caught up without a snapshot");
  assert.equal(machine.applyDuringRestore, 0);
  assert.deepEqual(machine.items, c.machines.get(leader.id)!.items);
  assert.equal(machine.items.length, 50);
  for (const d of c.drivers.values()) await d.close();
});

/** Proposes `n` entries of exactly 10 bytes each through the leader, in order. */
async function proposeTen(c: Cluster, n: number): Promise<void> {
  const leader = await c.leader();
  for (let i = 0; i < n; i++) {
    assert.equal((await leader.propose(enc(`x${String(i).padStart(9, "0")}`), 1000)).ok, true);
    await c.ticks(1);
  }
}

Deno.test("NodeDriver with snapshotLogFactor waits until the log since a snapshot outweighs it", async () => {
  const c = new Cluster(["n1", "n2", "n3"], 2, 1);
  for (const id of c.ids) await c.open(id);
  await proposeTen(c, 120);
  await c.ticks(5);
  const n1 = c.snapshots.filter((s) => s.id === "n1");
  assert.ok(n1.length >= 2, `n1 took ${n1.length} snapshots`);
  for (let i = 1; i < n1.length; i++) {
    // At most 10 bytes per entry: the entries between two snapshots carry at least as many
    // bytes as the earlier snapshot had.
    const logBytesAtMost = 10 * (n1[i].index - n1[i - 1].index);
    assert.ok(logBytesAtMost >= n1[i - 1].bytes, JSON.stringify([n1[i - 1], n1[i]]));
  }
  for (const d of c.drivers.values()) await d.close();

  // The entry count alone (factor 0) snapshots far more often on the same work.
  const plain = new Cluster(["n1", "n2", "n3"], 2);
  for (const id of plain.ids) await plain.open(id);
  await proposeTen(plain, 120);
  await plain.ticks(5);
  const plainN1 = plain.snapshots.filter((s) => s.id === "n1").length;
  assert.ok(plainN1 > 2 * n1.length, `factor 0: ${plainN1} snapshots, factor 1: ${n1.length}`);
  for (const d of plain.drivers.values()) await d.close();
});

Deno.test("NodeDriver with snapshotEntriesMax snapshots at that many entries whatever the bytes", async () => {
  // Factor 1000: by bytes alone no second snapshot would ever be due in this test.
  const c = new Cluster(["n1", "n2", "n3"], 2, 1000, 12);
  for (const id of c.ids) await c.open(id);
  await proposeTen(c, 60);
  await c.ticks(5);
  const n1 = c.snapshots.filter((s) => s.id === "n1");
  assert.ok(n1.length >= 3, `n1 took ${n1.length} snapshots`);
  for (let i = 1; i < n1.length; i++) {
    const apart = n1[i].index - n1[i - 1].index;
    // Taken in the background: entries applied while one is written count toward the next.
    assert.ok(apart >= 12 && apart <= 16, JSON.stringify([n1[i - 1], n1[i]]));
  }
  for (const d of c.drivers.values()) await d.close();
});

for (const streams of [false, true]) {
  const how = streams ? " (saved part by part as encoded)" : "";
  Deno.test(`NodeDriver with file snapshots${how}: sent read back from the file, loaded bytes freed once restored`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "qq_driver_snap_" });
    try {
      const c = new Cluster(["n1", "n2", "n3"], 10);
      c.snapshotDir = dir;
      c.streams = streams;
      for (const id of c.ids) await c.open(id);
      const leader = await c.leader();
      const lagging = c.ids.find((id) => id !== leader.id)!;
      c.cut.add(lagging);
      for (let i = 0; i < 40; i++) {
        assert.equal((await leader.propose(enc(`x${i}`), 1000)).ok, true);
      }
      // The snapshot is written to its file in the background (real I/O): tick until it is saved.
      const tookOne = () => c.snapshots.some((s) => s.id === leader.id);
      for (let i = 0; i < 300 && !tookOne(); i++) {
        await c.ticks(1);
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.ok(tookOne(), "the leader took no snapshot");
      // The lagging node needs the leader's snapshot: the leader's core reads it from its file.
      c.cut.delete(lagging);
      const machine = c.machines.get(lagging)!;
      for (let i = 0; i < 300 && machine.items.length < 40; i++) await c.ticks(1);
      assert.ok(machine.restores >= 1, "the lagging node caught up without a snapshot");
      assert.deepEqual(machine.items, c.machines.get(leader.id)!.items);
      // A restart loads the snapshot from its file, restores it, then frees the loaded bytes: the
      // core keeps the copy on disk.
      const other = c.ids.find((id) => id !== leader.id && id !== lagging)!;
      await c.drivers.get(other)!.close();
      await c.open(other);
      const restarted = c.machines.get(other)!;
      for (let i = 0; i < 300 && restarted.items.length < 40; i++) await c.ticks(1);
      assert.deepEqual(restarted.items, c.machines.get(leader.id)!.items);
      const loaded = c.loaded.get(other);
      assert.ok(loaded !== undefined, "the restart loaded no snapshot");
      assert.equal(loaded.data.byteLength, 0, "the loaded snapshot's bytes were kept");
      const taker = c.machines.get(leader.id)!;
      assert.ok((streams ? taker.streamed : taker.serialized) >= 1);
      assert.equal(streams ? taker.serialized : taker.streamed, 0);
      for (const d of c.drivers.values()) await d.close();
    } finally {
      await removeDir(dir);
    }
  });
}

/** Removes `dir`, waiting for a snapshot save still in flight after the close (bounded). */
async function removeDir(dir: string): Promise<void> {
  for (let attempt = 0;; attempt++) {
    try {
      return await Deno.remove(dir, { recursive: true });
    } catch (e) {
      if (attempt >= 100) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

Deno.test("NodeDriver with snapshotLogBytesMax snapshots once the log holds that many bytes", async () => {
  // 1,000 entries between snapshots by count, factor 1000: only the byte bound can be due here.
  const c = new Cluster(["n1", "n2", "n3"], 1000, 1000, undefined, 100);
  for (const id of c.ids) await c.open(id);
  await proposeTen(c, 60);
  await c.ticks(5);
  const n1 = c.snapshots.filter((s) => s.id === "n1");
  assert.ok(n1.length >= 3, `n1 took ${n1.length} snapshots`);
  for (let i = 1; i < n1.length; i++) {
    // 10 bytes an entry: 100 bytes are 10 entries (more when applied while one is written).
    const apart = n1[i].index - n1[i - 1].index;
    assert.ok(apart >= 10 && apart < 40, JSON.stringify([n1[i - 1], n1[i]]));
  }
  for (const d of c.drivers.values()) await d.close();
});

Deno.test("a follower installing a leader's file snapshot restores it from its file", async () => {
  const c = new Cluster(["n1", "n2", "n3"], 10);
  c.snapshotDir = await Deno.makeTempDir({ prefix: "qq_driver_install_" });
  c.opens = true;
  try {
    for (const id of c.ids) await c.open(id);
    const leader = await c.leader();
    const lagging = c.ids.find((id) => id !== leader.id)!;
    c.cut.add(lagging);
    for (let i = 0; i < 40; i++) assert.equal((await leader.propose(enc(`x${i}`), 1000)).ok, true);
    // The leader's background snapshot is saved (an fsync: slow under load) and its log compacted
    // past what the lagging node holds.
    const compacted = () => c.snapshots.some((x) => x.id === leader.id);
    for (let i = 0; i < 500 && !compacted(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(compacted(), "the leader took no snapshot");
    await c.ticks(5);
    c.cut.delete(lagging);
    const machine = c.machines.get(lagging)!;
    for (let i = 0; i < 200 && machine.items.length < 40; i++) await c.ticks(1);
    assert.ok(machine.restores >= 1, "the lagging node caught up without a snapshot");
    assert.ok(machine.storedData.length >= 1, "the installed snapshot was restored from bytes");
    assert.ok(machine.storedData.every((d) => !(d instanceof Uint8Array)));
    assert.throws(() => machine.storedData[0].subarray(0, 1), /closed/);
    assert.deepEqual(machine.items, c.machines.get(leader.id)!.items);
    assert.equal(machine.items.length, 40);
  } finally {
    for (const d of c.drivers.values()) await d.close();
    // A snapshot being saved in the background finishes before its directory goes.
    const saving = () => [...c.drivers.values()].some((d) => d.snapshotting);
    for (let i = 0; i < 500 && saving(); i++) await new Promise((r) => setTimeout(r, 10));
    await Deno.remove(c.snapshotDir, { recursive: true });
  }
});
