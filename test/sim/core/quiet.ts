/**
 * The checks that look at the whole cluster after a step, and the quiet phase that ends every
 * seed: faults stop, every node is up and connected, and within 30 election timeouts a leader
 * must commit a fresh command that every member then applies (liveness), after which every
 * command the client was told committed must be applied on every member (durability).
 *
 * @module
 */

import type { ConfState, RaftStatus } from "../../../cluster/raft/mod.ts";
import type { Sim } from "./run.ts";
import { ELECTION_TICKS } from "./settings.ts";
import type { SimNode } from "./sim_node.ts";
import { termAt } from "../disk.ts";

function sameConf(a: ConfState, b: ConfState): boolean {
  const key = (c: ConfState) => `${[...c.voters].sort()}|${[...c.learners].sort()}`;
  return key(a) === key(b);
}

/** Per-step observations of every running node: leaders, commit indexes, driver agreement. */
export function observeNodes(sim: Sim): void {
  for (const n of sim.nodes.values()) {
    if (!n.up) continue;
    const st = n.raw.status();
    if (st.role === "leader") {
      sim.checker.observeLeader(st.term, n.id);
      const t = termAt(n.disk.written, st.commit);
      if (t !== undefined && t < st.term && st.commit > sim.checker.lastCommitOf(n.id)) {
        sim.trace(`${n.id} leader t${st.term} commit ${st.commit} is an entry of term ${t}`);
      }
    }
    sim.checker.observeCommit(n, st.commit, st.term);
    if (
      !(st.applied <= st.commit && st.commit <= st.lastIndex && st.firstIndex <= st.lastIndex + 1)
    ) {
      sim.checker.fail(
        "status_order",
        `${n.id} reports first ${st.firstIndex} applied ${st.applied} commit ${st.commit} ` +
          `last ${st.lastIndex}: expected applied <= commit <= last and first <= last + 1`,
      );
    }
    // When no Ready is in hand or pending, the core and the driver must agree on what was applied
    // and who is a member (a received snapshot may change the core's view before its Ready).
    if (n.phase !== "idle" || n.raw.hasReady()) continue;
    if (st.applied !== n.appliedIndex) {
      sim.checker.fail(
        "applied_agreement",
        `${n.id} core says applied ${st.applied}, the driver applied ${n.appliedIndex}`,
      );
    }
    if (!sameConf(st.conf, n.conf)) {
      sim.checker.fail(
        "conf_agreement",
        `${n.id} core conf ${JSON.stringify(st.conf)} but applied entries give ${
          JSON.stringify(n.conf)
        }`,
      );
    }
  }
}

/** The membership as of the highest applied index among running nodes. */
function latestConf(sim: Sim): ConfState {
  let best: SimNode | undefined;
  for (const n of sim.nodes.values()) {
    if (n.up && (best === undefined || n.appliedIndex > best.appliedIndex)) best = n;
  }
  return best?.conf ?? sim.bootstrap;
}

function members(sim: Sim): SimNode[] {
  const conf = latestConf(sim);
  return [...conf.voters, ...conf.learners].map((id) => sim.nodes.get(id)!).filter((n) =>
    n !== undefined
  );
}

function describeProgress(p: RaftStatus["progress"]): string {
  return Object.entries(p).map(([id, x]) => `${id}:${x.state}/m${x.match}/n${x.next}`).join(",");
}

function describeCluster(sim: Sim): string {
  const parts: string[] = [];
  for (const n of sim.nodes.values()) {
    if (!n.up) {
      parts.push(`${n.id}:down${sim.retired.has(n.id) ? "(retired)" : ""}`);
      continue;
    }
    const st = n.raw.status();
    parts.push(
      `${n.id}:${st.role} t${st.term} lead=${st.leaderId || "-"} commit=${st.commit} ` +
        `applied=${n.appliedIndex} last=${st.lastIndex} conf=${st.conf.voters}/${st.conf.learners}` +
        (st.role === "leader" ? ` progress=${describeProgress(st.progress)}` : ""),
    );
  }
  return parts.join("; ");
}

/** Runs the quiet phase; records a liveness or durability violation when it fails. */
export function quietPhase(sim: Sim): void {
  sim.nemesis.stop();
  sim.pausedUntil.clear();
  const boundSteps = 30 * ELECTION_TICKS;
  const start = sim.step;
  let finalId: number | undefined;
  while (sim.step - start < boundSteps && sim.checker.violations.length === 0) {
    if (finalId === undefined && sim.leaders().length > 0) finalId = sim.workload.newCommand();
    sim.runStep({ faults: false, proposeRate: 0 });
    if (finalId !== undefined && allApplied(sim, finalId)) {
      checkDurability(sim);
      return;
    }
  }
  if (sim.checker.violations.length > 0) return;
  sim.checker.fail(
    "liveness",
    `no fresh command committed and applied on every member within ${boundSteps} ticks of quiet ` +
      `(final command ${finalId ?? "never proposed"}): ${describeCluster(sim)}`,
  );
}

/** The final command is committed, and every member applied every command told committed. */
function allApplied(sim: Sim, finalId: number): boolean {
  if (!sim.workload.isCommitted(finalId)) return false;
  let maxIndex = 0;
  for (const c of sim.workload.committed) maxIndex = Math.max(maxIndex, c.index);
  const ms = members(sim);
  return ms.length > 0 && ms.every((n) => n.up && n.appliedIndex >= maxIndex);
}

/** Every command the client was told committed is applied, as told, on every member. */
function checkDurability(sim: Sim): void {
  const ms = members(sim);
  for (const c of sim.workload.committed) {
    const rec = sim.checker.applied[c.index];
    if (rec === undefined || rec.term !== c.term) {
      sim.checker.fail(
        "durability",
        `command ${c.id} was told committed at ${c.index}/${c.term}, but ${c.index} holds ` +
          `${rec === undefined ? "nothing" : `term ${rec.term}`}`,
      );
      return;
    }
    for (const n of ms) {
      if (n.appliedIndex < c.index) {
        sim.checker.fail("durability", `${n.id} never applied command ${c.id} at ${c.index}`);
        return;
      }
    }
  }
}
