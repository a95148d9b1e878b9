/**
 * A node restarting from a file snapshot restores it from the file, range by range
 * (`SnapshotStore.open`, `StateMachine.restoreStored`), never holding it whole; a state machine
 * without `restoreStored` gets the whole bytes as before; the file is closed once restored, and
 * when the node closes during the restore.
 */
import assert from "node:assert/strict";
import { NodeDriver } from "./driver.ts";
import type { Pace, SnapshotView, StateMachine, StoragePorts } from "./ports.ts";
import type { SnapshotData } from "../raft/mod.ts";
import { FileSnapshotStore, MemoryHardStateStore, MemoryLogStore } from "../storage/mod.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const flush = () => new Promise((r) => setTimeout(r, 0));

/** Bytes `ListMachine.restoreStored` reads at a time. */
const READ_BYTES = 7;

/** A list of applied commands, restored from whole bytes only. */
class ListMachine implements StateMachine {
  items: string[] = [];
  restoredWhole = 0;

  apply(_index: number, data: Uint8Array): unknown {
    this.items.push(dec(data));
    return this.items.length;
  }

  snapshot(): SnapshotView {
    const copy = JSON.stringify(this.items);
    return { serialize: () => enc(copy) };
  }

  restore(data: Uint8Array): void {
    this.restoredWhole++;
    this.items = JSON.parse(dec(data));
  }
}

/** A `ListMachine` that restores data read on demand, in small reads. */
class StoredListMachine extends ListMachine {
  restoredStored: SnapshotData[] = [];
  largestRead = 0;
  /** When set, `restoreStored` waits for it after its first read. */
  gate: Promise<void> | undefined;

  async restoreStored(data: SnapshotData, pace: Pace): Promise<void> {
    this.restoredStored.push(data);
    const bytes = new Uint8Array(data.byteLength);
    for (let at = 0; at < data.byteLength; at += READ_BYTES) {
      const chunk = data.subarray(at, at + READ_BYTES);
      this.largestRead = Math.max(this.largestRead, chunk.length);
      bytes.set(chunk, at);
      if (at === 0) await this.gate;
      await pace();
    }
    this.items = JSON.parse(dec(bytes));
  }
}

/** One node whose storage (memory log and hard state, file snapshots) outlives its restarts. */
class Node {
  readonly storage: StoragePorts;
  driver: NodeDriver | undefined;
  machine: ListMachine | undefined;
  tick: (() => void) | undefined;
  taken: number[] = [];

  constructor(dir: string) {
    this.storage = {
      log: new MemoryLogStore(),
      hardState: new MemoryHardStateStore(),
      snapshots: new FileSnapshotStore(dir),
    };
  }

  async open(machine: ListMachine): Promise<NodeDriver> {
    this.machine = machine;
    this.driver = await NodeDriver.open({
      raft: {
        id: "n1",
        clusterId: "test",
        electionTicks: 10,
        heartbeatTicks: 1,
        random: () => 0.5,
      },
      bootstrapConf: { voters: ["n1"], learners: [] },
      bootstrapUrls: new Map([["n1", "http://n1"]]),
      storage: this.storage,
      sink: { send: () => {} },
      stateMachine: machine,
      startTicker: (_ms, fn) => {
        this.tick = fn;
        return () => this.tick = undefined;
      },
      tickMs: 10,
      snapshotEveryEntries: 5,
      log: (_level, event, details) => {
        if (event === "snapshot_taken") this.taken.push(details?.index as number);
      },
      onFatal: (e) => {
        throw e;
      },
    });
    return this.driver;
  }

  async leading(): Promise<NodeDriver> {
    for (let i = 0; i < 100 && !this.driver!.leading; i++) {
      this.tick?.();
      await flush();
    }
    assert.ok(this.driver!.leading, "no leader within 100 ticks");
    return this.driver!;
  }

  /**
   * Applies `items` and waits for a snapshot that holds some of them (a restart restores it,
   * then replays the rest from the log); closes the node. Returns the last index applied.
   */
  async fill(items: string[]): Promise<number> {
    await this.open(new ListMachine());
    const d = await this.leading();
    for (const item of items) assert.equal((await d.propose(enc(item), 1000)).ok, true);
    const last = d.appliedIndex;
    for (let i = 0; i < 200 && !this.taken.some((x) => x >= 5); i++) await flush();
    assert.ok(this.taken.some((x) => x >= 5), "no snapshot taken");
    await d.close();
    return last;
  }
}

async function withNode(f: (node: Node) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "qq_stored_restore_" });
  try {
    await f(new Node(dir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const ITEMS = Array.from({ length: 10 }, (_, i) => `item-${i}-${"x".repeat(i * 5)}`);

Deno.test("a restart restores its file snapshot range by range, then closes the file", async () => {
  await withNode(async (node) => {
    const last = await node.fill(ITEMS);
    const machine = new StoredListMachine();
    const d = await node.open(machine);
    assert.ok(await d.waitApplied(last, 2000), "not restored");
    assert.deepEqual(machine.items, ITEMS);
    assert.equal(machine.restoredWhole, 0);
    assert.equal(machine.restoredStored.length, 1);
    const data = machine.restoredStored[0];
    assert.ok(!(data instanceof Uint8Array), "the restore was given the whole bytes");
    assert.ok(machine.largestRead <= READ_BYTES, `a read of ${machine.largestRead} bytes`);
    assert.throws(() => data.subarray(0, 1), /closed/);
    // The node goes on from the restored state.
    assert.equal((await (await node.leading()).propose(enc("after"), 1000)).ok, true);
    assert.deepEqual(machine.items, [...ITEMS, "after"]);
    await d.close();
  });
});

Deno.test("a state machine without restoreStored gets the snapshot's whole bytes", async () => {
  await withNode(async (node) => {
    const last = await node.fill(ITEMS);
    const machine = new ListMachine();
    const d = await node.open(machine);
    assert.ok(await d.waitApplied(last, 2000), "not restored");
    assert.deepEqual(machine.items, ITEMS);
    assert.equal(machine.restoredWhole, 1);
    await d.close();
  });
});

Deno.test("a node closed during a stored restore closes the snapshot's file", async () => {
  await withNode(async (node) => {
    await node.fill(ITEMS);
    const machine = new StoredListMachine();
    let open!: () => void;
    machine.gate = new Promise((r) => open = r);
    const d = await node.open(machine);
    for (let i = 0; i < 50 && machine.restoredStored.length === 0; i++) await flush();
    assert.equal(machine.restoredStored.length, 1, "the restore did not start");
    await d.close();
    assert.throws(() => machine.restoredStored[0].subarray(0, 1), /closed/);
    open();
    for (let i = 0; i < 5; i++) await flush();
    assert.equal(d.appliedIndex, 0);
  });
});
