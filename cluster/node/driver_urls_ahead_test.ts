/**
 * A restarted node dials the members its log names before it has replayed that far (chaos
 * FINDINGS F10): `urlsAhead` holds the URLs of the log's last entry at open until the entries
 * applied reach it.
 */
import assert from "node:assert/strict";
import { NodeDriver } from "./driver.ts";
import { bootstrapEntries } from "./bootstrap.ts";
import { handDriven, ListMachine } from "./_testing_cluster.ts";
import { encodeConfChange, EntryKind } from "../raft/mod.ts";
import { MemoryHardStateStore, MemoryLogStore, MemorySnapshotStore } from "../storage/mod.ts";

const CONF = { voters: ["a", "f"], learners: [] };
const URLS = new Map([["a", "http://a"], ["f", "http://f"]]);

/** A node `f` whose log holds the bootstrap, then x added at http://x; committed through `commit`. */
async function openWithLog(commit: "bootstrap" | "all"): Promise<NodeDriver> {
  const log = new MemoryLogStore();
  const boot = bootstrapEntries(CONF, URLS);
  const addX = {
    term: 2,
    index: boot.length + 1,
    kind: EntryKind.ConfChange,
    data: encodeConfChange({ op: "add_learner", nodeId: "x", context: "http://x" }),
  };
  await log.append([...boot, addX]);
  const hardState = new MemoryHardStateStore();
  await hardState.save({ term: 2, vote: "a", commit: commit === "all" ? addX.index : boot.length });
  return NodeDriver.open({
    raft: { id: "f", clusterId: "test", electionTicks: 10, heartbeatTicks: 1, random: () => 0.5 },
    bootstrapConf: CONF,
    bootstrapUrls: URLS,
    storage: { log, hardState, snapshots: new MemorySnapshotStore() },
    sink: { send: () => {} },
    stateMachine: new ListMachine(),
    ...handDriven().options,
  });
}

const ids = (urls: readonly (readonly [string, string])[]) => urls.map(([id]) => id).sort();

Deno.test("NodeDriver names the members of its log's last entry as dial targets before applying them", async () => {
  // The entry adding x is in the log but not (known to be) committed: it cannot be applied yet.
  const d = await openWithLog("bootstrap");
  try {
    assert.ok(await d.waitApplied(4, 5_000));
    assert.deepEqual(ids(d.urls.entries()), ["a", "f"]);
    assert.deepEqual(ids(d.urlsAhead), ["a", "f", "x"]);
    assert.deepEqual(new Map(d.urlsAhead).get("x"), "http://x");
  } finally {
    await d.close();
  }
});

Deno.test("NodeDriver's dial targets ahead are gone once the replay reaches the log's last entry", async () => {
  const d = await openWithLog("all");
  try {
    assert.ok(await d.waitApplied(5, 5_000));
    assert.deepEqual(ids(d.urls.entries()), ["a", "f", "x"]);
    assert.deepEqual(d.urlsAhead, []);
  } finally {
    await d.close();
  }
});

Deno.test("NodeDriver gives the same dial-target array until it changes (its follower compares identity)", async () => {
  for (const commit of ["bootstrap", "all"] as const) {
    const d = await openWithLog(commit);
    try {
      assert.ok(await d.waitApplied(commit === "all" ? 5 : 4, 5_000));
      assert.equal(d.urlsAhead, d.urlsAhead);
    } finally {
      await d.close();
    }
  }
});
