/**
 * A node closed while it saves a snapshot of its own state abandons the save: `close()` returns
 * only once the save has stopped, with no temporary file left behind and the store still usable
 * (the caller, who owns the storage, may close it or remove its directory at once, or open a new
 * node on it). Before, the save went on after `close()` and wrote into a directory the caller was
 * removing.
 */
import assert from "node:assert/strict";
import { NodeDriver } from "./driver.ts";
import type { SnapshotView, StateMachine } from "./ports.ts";
import { FileSnapshotStore, MemoryHardStateStore, MemoryLogStore } from "../storage/mod.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const flush = () => new Promise((r) => setTimeout(r, 0));

/** A state machine whose snapshot stream yields one part, then waits for `gate`. */
class GatedMachine implements StateMachine {
  items = 0;
  partsPulled = 0;
  streamEnded = false;
  gate: Promise<void>;
  open!: () => void;

  constructor() {
    this.gate = new Promise((r) => this.open = r);
  }

  apply(): unknown {
    return ++this.items;
  }

  snapshot(): SnapshotView {
    const parts = Array.from({ length: 4 }, (_, i) => enc(`part-${i}`));
    return {
      serialize: () => parts.reduce((a, b) => new Uint8Array([...a, ...b])),
      stream: () => this.#stream(parts),
    };
  }

  async *#stream(parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
    try {
      for (const [i, p] of parts.entries()) {
        this.partsPulled++;
        if (i === 1) await this.gate;
        yield p;
      }
    } finally {
      this.streamEnded = true;
    }
  }

  restore(): void {}
}

async function tempFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".tmp")) names.push(e.name);
  return names;
}

Deno.test("a node closed during a snapshot save stops it and leaves no temporary file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "qq_close_snapshot_" });
  try {
    const snapshots = new FileSnapshotStore(dir);
    const machine = new GatedMachine();
    const taken: unknown[] = [];
    const fatal: unknown[] = [];
    let tick: (() => void) | undefined;
    const d = await NodeDriver.open({
      raft: { id: "n1", clusterId: "t", electionTicks: 10, heartbeatTicks: 1, random: () => 0.5 },
      bootstrapConf: { voters: ["n1"], learners: [] },
      bootstrapUrls: new Map([["n1", "http://n1"]]),
      storage: { log: new MemoryLogStore(), hardState: new MemoryHardStateStore(), snapshots },
      sink: { send: () => {} },
      stateMachine: machine,
      startTicker: (_ms, fn) => {
        tick = fn;
        return () => tick = undefined;
      },
      tickMs: 10,
      snapshotEveryEntries: 3,
      log: (_level, event, details) => {
        if (event === "snapshot_taken") taken.push(details);
      },
      onFatal: (e) => fatal.push(e),
    });
    for (let i = 0; i < 100 && !d.leading; i++) {
      tick?.();
      await flush();
    }
    assert.ok(d.leading, "no leader");
    for (let i = 0; i < 3; i++) assert.equal((await d.propose(enc(`x${i}`), 1000)).ok, true);
    for (let i = 0; i < 200 && machine.partsPulled < 2; i++) await flush();
    assert.equal(machine.partsPulled, 2, "the snapshot save did not start");
    assert.equal((await tempFiles(dir)).length, 1, "the save writes a temporary file");

    const closed = d.close();
    machine.open(); // the state machine's stream goes on: the save must stop at its next part
    await closed;
    assert.deepEqual(await tempFiles(dir), [], "a temporary file outlived close()");
    assert.ok(machine.streamEnded, "the snapshot stream was left open");
    assert.ok(machine.partsPulled < 4, "the save went on to the end after close()");
    assert.deepEqual(taken, []);
    assert.deepEqual(fatal, []);
    // The store is not broken by the abandoned save: another save works.
    await snapshots.save({
      meta: { index: 9, term: 1, conf: { voters: ["n1"], learners: [] } },
      data: enc("ok"),
    });
    assert.equal((await snapshots.load())?.meta.index, 9);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
