/**
 * Randomized schedules (seeded): message loss, duplication and reordering, partitions, crashes
 * (also between sending a Ready's messages and persisting it), compaction and, in the second
 * test, membership changes (ids never reused; the leader may remove itself). After every step the test network checks election safety and the persistence
 * contract; at the end, no two nodes applied different entries at one index, and once the
 * faults stop the cluster converges.
 */

import assert from "node:assert/strict";
import { bytes, Network, seededRandom } from "./_testing_network.ts";

const IDS = ["n1", "n2", "n3", "n4", "n5"];
const SPARE = ["n6", "n7", "n8"];

function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)];
}

function deliverSome(net: Network, rand: () => number): void {
  // Deliver queued messages in a random order, dropping and duplicating a few.
  const batch = net.queue.splice(0);
  for (let i = batch.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [batch[i], batch[j]] = [batch[j], batch[i]];
  }
  for (const m of batch) {
    const x = rand();
    if (x < 0.1) continue;
    net.deliver(m);
    if (x > 0.95) net.deliver(m);
  }
}

/** One membership change from the leader: add a spare as learner, promote, or remove a voter. */
function changeMembership(net: Network, rand: () => number): void {
  const leader = net.leaders()[0];
  if (leader === undefined) return;
  const conf = net.node(leader).status().conf;
  const spare = SPARE.find((id) => !net.sims.has(id));
  if (conf.learners.length > 0) {
    net.node(leader).proposeConfChange({ op: "promote", nodeId: pick(rand, conf.learners) });
  } else if (spare !== undefined && rand() < 0.5) {
    const r = net.node(leader).proposeConfChange({ op: "add_learner", nodeId: spare });
    if (r.ok) net.addNode(spare, { voters: IDS, learners: [] });
  } else if (conf.voters.length > 3) {
    net.node(leader).proposeConfChange({ op: "remove", nodeId: pick(rand, conf.voters) });
  }
}

interface Schedule {
  readonly membership: boolean;
  /** A pending Ready's node also sends and applies what it may while the persist runs. */
  readonly overlap: boolean;
  /**
   * The leader's persists are slow: its Readies are often left pending while the followers
   * persist and answer, so it commits (and applies) entries its own write still runs for.
   */
  readonly slowLeader?: boolean;
}

/** Whether `id` leads with a Ready pending, left so by a `slowLeader` schedule. */
function leftPending(net: Network, rand: () => number, id: string, o: Schedule): boolean {
  return o.slowLeader === true && net.pending.has(id) && net.node(id).role === "leader" &&
    rand() < 0.9;
}

function randomStep(net: Network, rand: () => number, step: number, o: Schedule): void {
  const r = rand();
  const all = [...net.sims.keys()];
  const live = all.filter((id) => !net.down.has(id));
  if (r < 0.35) {
    net.tick(pick(rand, live));
  } else if (r < 0.7) {
    deliverSome(net, rand);
    // A slow leader's driver takes what the answers committed while its persist runs.
    const leader = o.slowLeader ? net.leaders()[0] : undefined;
    if (leader !== undefined && net.pending.has(leader)) net.overlap(leader);
  } else if (r < 0.78) {
    for (const id of live) if (!leftPending(net, rand, id, o)) net.cycle(id);
  } else if (r < 0.85) {
    // An asynchronous driver: messages go out now, persistence completes later.
    const leader = net.leaders().find((id) => live.includes(id));
    const id = o.slowLeader && leader !== undefined && rand() < 0.5 ? leader : pick(rand, live);
    if (!net.pending.has(id)) net.begin(id);
    else if (o.overlap && rand() < 0.6) net.overlap(id);
    else net.finish(id);
  } else if (r < 0.9) {
    const leader = net.leaders()[0];
    if (leader !== undefined) net.node(leader).propose(bytes(`p${step}`));
  } else if (r < 0.93) {
    if (live.length > all.length - 2) {
      const id = pick(rand, live);
      // A crash may hit between sending a Ready's messages and persisting it.
      if (rand() < 0.5) net.begin(id);
      net.crash(id);
    }
  } else if (r < 0.96) {
    const id = pick(rand, all);
    if (net.down.has(id)) net.restart(id);
  } else if (r < 0.975) {
    if (net.cuts.size > 0) net.heal();
    else net.isolate(pick(rand, live));
  } else if (r < 0.99 || !o.membership) {
    const id = pick(rand, live);
    const s = net.sim(id);
    // A snapshot's entries are durable here first (a leader may apply ahead of its write).
    const st = s.node.status();
    if (
      s.appliedIndex > st.firstIndex + 5 && s.appliedIndex <= st.stableIndex && !net.pending.has(id)
    ) {
      s.node.compact(net.takeSnapshot(id));
    }
  } else {
    changeMembership(net, rand);
  }
}

function run(seed: number, o: Schedule): Network {
  const rand = seededRandom(seed);
  const net = new Network(IDS, {
    seed,
    config: { snapshotChunkBytes: 64, maxInflightMessages: 4 },
  });
  for (let step = 0; step < 5000; step++) randomStep(net, rand, step, o);
  // Faults stop: everyone up, links healed; the cluster must converge.
  net.heal();
  for (const id of net.sims.keys()) if (net.down.has(id)) net.restart(id);
  net.tickAll(80);
  return net;
}

function check(seed: number, membership: boolean, overlap = false, slowLeader = false): void {
  let net: Network;
  try {
    net = run(seed, { membership, overlap, slowLeader });
  } catch (e) {
    throw new Error(`seed ${seed}: ${(e as Error).message}`, { cause: e });
  }
  assert.deepEqual(net.appliedConflicts(), [], `seed ${seed}`);
  assert.equal(net.leaders().length, 1, `seed ${seed}: one leader after healing`);
  const leader = net.leaders()[0];
  const p = net.node(leader).propose(bytes("final"));
  assert.ok(p.ok, `seed ${seed}`);
  net.tickAll(3);
  const conf = net.node(leader).status().conf;
  const members = [...conf.voters, ...conf.learners];
  const apps = members.map((id) => net.sim(id).app.join(","));
  assert.equal(new Set(apps).size, 1, `seed ${seed}: applied states differ`);
  assert.ok(apps[0].endsWith("final"), `seed ${seed}`);
}

Deno.test("random schedules keep Raft safe and converge once faults stop", () => {
  for (let seed = 1; seed <= 30; seed++) check(seed, false);
});

Deno.test("random schedules with membership changes stay safe and converge", () => {
  for (let seed = 1; seed <= 30; seed++) check(seed, true);
});

Deno.test("random schedules with sends and applies during persists (takeMessages, takeCommittedAhead) stay safe", () => {
  for (let seed = 1; seed <= 30; seed++) check(seed, false, true);
});

Deno.test("random schedules with membership changes and sends and applies during persists stay safe", () => {
  for (let seed = 1; seed <= 30; seed++) check(seed, true, true);
});

Deno.test("random schedules with a slow leader that applies what its followers committed during its persists stay safe", () => {
  for (let seed = 1; seed <= 30; seed++) check(seed, false, true, true);
});

Deno.test("random schedules with membership changes and a slow leader applying ahead of its persists stay safe", () => {
  for (let seed = 1; seed <= 30; seed++) check(seed, true, true, true);
});
