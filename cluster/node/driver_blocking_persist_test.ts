/**
 * A follower persists its entries with a blocking fdatasync (`blockingPersist`), unless a client
 * reached it lately (`ClientAwareBlocking`); a leader with an asynchronous one. Either way a
 * follower's answer leaves only after the entries it acknowledges are fdatasync'ed.
 */

import assert from "node:assert/strict";
import { NodeDriver } from "./driver.ts";
import { EntryKind, type Message, type NodeId, type Role } from "../raft/mod.ts";
import { ASYNC_AFTER_SLOW_SYNC_MS, ClientAwareBlocking } from "./driver_persist.ts";
import { enc, handDriven, ListMachine } from "./_testing_cluster.ts";
import {
  type AppendOptions,
  FileLogStore,
  MemoryHardStateStore,
  MemorySnapshotStore,
} from "../storage/mod.ts";

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
};

interface Opened {
  readonly driver: NodeDriver;
  readonly log: FileLogStore;
  readonly tick: () => void;
  /** What happened, in order: "append <first> blocking|async", "synced", "answer <index>". */
  readonly events: string[];
  readonly sent: Message[];
  close(): Promise<void>;
}

interface OpenOptions {
  readonly blockingPersist?: (role: Role) => boolean;
  /** A fake clock for the driver, which each append moves on by `syncMs()`. */
  readonly clock?: { now: number; syncMs(): number };
}

async function open(id: NodeId, voters: NodeId[], o: OpenOptions = {}): Promise<Opened> {
  const dir = await Deno.makeTempDir({ prefix: "quorumq-blocking-persist-" });
  const events: string[] = [];
  const log = await FileLogStore.open(dir, {
    log: () => {},
    afterSync: () => events.push("synced"),
  });
  const append = log.append.bind(log);
  log.append = (es, opts?: AppendOptions) => {
    events.push(`append ${es[0]?.index} ${opts?.blocking ? "blocking" : "async"}`);
    if (o.clock) o.clock.now += o.clock.syncMs();
    return append(es, opts);
  };
  const sent: Message[] = [];
  const hand = handDriven();
  const driver = await NodeDriver.open({
    raft: { id, clusterId: "test", electionTicks: 10, heartbeatTicks: 1, random: () => 0 },
    bootstrapConf: { voters, learners: [] },
    bootstrapUrls: new Map(voters.map((v) => [v, `http://${v}`])),
    storage: { log, hardState: new MemoryHardStateStore(), snapshots: new MemorySnapshotStore() },
    sink: {
      send: (msgs) => {
        for (const m of msgs) if (m.type === "append_resp") events.push(`answer ${m.index}`);
        sent.push(...msgs);
      },
    },
    stateMachine: new ListMachine(),
    ...hand.options,
    ...(o.blockingPersist ? { blockingPersist: o.blockingPersist } : {}),
    ...(o.clock ? { nowMs: () => o.clock!.now } : {}),
  });
  return {
    driver,
    log,
    tick: hand.tick,
    events,
    sent,
    close: async () => {
      await driver.close();
      await log.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Three appends from the leader to follower `f`; each must log `append <i> <mode>` first. */
async function threeAppends(
  f: Opened,
  mode: (i: number) => "blocking" | "async",
  before: (i: number) => void = () => {},
): Promise<void> {
  await settle();
  const term = f.driver.status().term + 1;
  let last = f.driver.status().lastIndex;
  for (let i = 0; i < 3; i++) {
    f.events.length = 0;
    before(i);
    f.driver.receive([{
      type: "append",
      clusterId: "test",
      from: "l",
      to: "f",
      term,
      logTerm: f.log.term(last) ?? 0,
      index: last,
      entries: [{ index: last + 1, term, kind: EntryKind.Normal, data: enc(`e${i}`) }],
      commit: last,
    }]);
    await settle();
    last++;
    assert.deepEqual(f.events, [`append ${last} ${mode(i)}`, "synced", `answer ${last}`]);
  }
}

Deno.test("a follower's appends block on their fdatasync, and its answers follow it", async () => {
  const f = await open("f", ["l", "f", "g"]);
  try {
    await threeAppends(f, () => "blocking");
  } finally {
    await f.close();
  }
});

Deno.test("a follower that served a client keeps its fdatasync asynchronous a while", async () => {
  let now = 0;
  const clients = new ClientAwareBlocking(1_000, () => now);
  const f = await open("f", ["l", "f", "g"], { blockingPersist: clients.blocking });
  try {
    clients.noteClient();
    // Quiet for 0, 999, then 1,000 ms.
    await threeAppends(f, (i) => i < 2 ? "async" : "blocking", (i) => now = [0, 999, 1_000][i]);
    assert.equal(clients.blocking("leader"), false);
  } finally {
    await f.close();
  }
});

Deno.test("a leader's appends do not block on their fdatasync", async () => {
  const l = await open("l", ["l"]);
  try {
    for (let i = 0; i < 30 && !l.driver.leading; i++) {
      l.tick();
      await settle();
    }
    assert.ok(l.driver.leading);
    l.events.length = 0;
    const outcome = await l.driver.propose(enc("x"), 10_000);
    assert.ok(outcome.ok);
    const appends = l.events.filter((e) => e.startsWith("append"));
    assert.ok(appends.length > 0);
    for (const a of appends) assert.match(a, /async$/);
  } finally {
    await l.close();
  }
});

Deno.test("after a slow blocking fdatasync a follower's syncs stay asynchronous a while", async () => {
  // Election timeout 10 ticks of 10 ms: a blocking sync above 20 ms is slow.
  let syncMs = 0;
  const clock = { now: 0, syncMs: () => syncMs };
  const f = await open("f", ["l", "f", "g"], { clock });
  try {
    await threeAppends(f, (i) => i === 1 ? "async" : "blocking", (i) => {
      syncMs = [21, 1, 1][i];
      if (i === 2) clock.now += ASYNC_AFTER_SLOW_SYNC_MS;
    });
  } finally {
    await f.close();
  }
});
