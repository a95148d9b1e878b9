/**
 * The chaos checker: a pure function from a history (`history.ts`) to counts of violations of
 * the promises in docs/design.md. No I/O, no clock: the same history gives the same
 * verdict, and `checker_test.ts` proves each kind can fire on a hand-made history.
 *
 * What it counts (every rule is a necessary condition for a correct broker, so a correct run
 * never trips it):
 * - lost: a publish answered ok whose id was never delivered on a source it feeds (promise 1);
 * - duplicated: one id enqueued under two seqs (promise 2), an exactly-once id answered `acked`
 *   twice, one source message moved by two transactions (promise 4), or an id delivered twice on
 *   a source that promises each id once (`once`: MQTT QoS 2 at a subscriber);
 * - unexpected: an id delivered that no publish carried, or whose every publish (or transaction)
 *   was refused with a 4xx (not applied: a transaction answered 409 must leave no trace);
 * - redelivered: a delivery whose receive began after an ack of that id was answered `acked`
 *   (promise 3);
 * - order: one receive answer not in seq order; on a plain queue, a first delivery of a lower seq
 *   after a receive that completed with a higher first delivery; in a fifo group, a lower seq
 *   delivered after a higher one, or a higher one delivered before any ack of a lower one began
 *   (promise 5);
 * - divergence: after healing, two nodes at the same applied index with different stats, or
 *   nodes that never reached the same applied index;
 * - liveness: no write accepted within `healWriteMsMax` of the final heal, or a drain that did
 *   not finish;
 * - stale_read: a linearizable read of a queue's `published` counter lower than the number of
 *   distinct ids acknowledged to it before the read began, or lower than a read that completed
 *   before it began (docs/reliability.md item 4: a stale leader must not answer reads);
 * - crash: a node process that died on its own (an assertion such as election safety, or a
 *   fatal error), other than refusing to start on a damaged log.
 *
 * @module
 */

import type { HistoryEvent, Published } from "./history.ts";
import {
  type Add,
  type Facts,
  gather,
  key,
  type Violation,
  VIOLATION_KINDS,
  type ViolationKind,
} from "./_facts.ts";
import { checkOrder } from "./_order.ts";

export { VIOLATION_KINDS } from "./_facts.ts";
export type { Violation, ViolationKind } from "./_facts.ts";

export interface CheckOptions {
  /** Liveness: a write must be accepted this soon after the final heal. Default 10 s. */
  readonly healWriteMsMax?: number;
  /** Keep at most this many violation details per kind. Default 20. */
  readonly detailsMax?: number;
}

export interface CheckResult {
  /** Client operations invoked. */
  readonly operations: number;
  /** Messages whose publish (or transaction) was answered ok. */
  readonly acknowledged: number;
  /** Deliveries seen (all attempts). */
  readonly delivered: number;
  readonly outcomes: { readonly ok: number; readonly fail: number; readonly unknown: number };
  readonly counts: Readonly<Record<ViolationKind, number>>;
  /** All violations together. */
  readonly violations: number;
  /** Up to `detailsMax` per kind. */
  readonly details: readonly Violation[];
  /** Faults injected, by kind (nemesis start events). */
  readonly faults: Readonly<Record<string, number>>;
  /** Final heal to the first accepted write, if both happened. */
  readonly healToWriteMs?: number;
  /**
   * The longest time between two accepted writes during the run (not a violation: faults may
   * legitimately stop writes for a while; it says how long the cluster was unavailable at worst),
   * and when it began (ms into the run).
   */
  readonly longestWriteGap?: { readonly ms: number; readonly fromMs: number };
}

export function check(events: readonly HistoryEvent[], options: CheckOptions = {}): CheckResult {
  const facts = gather(events);
  const found: Violation[] = [];
  const add = (kind: ViolationKind, detail: string) => found.push({ kind, detail });
  checkLostAndUnexpected(facts, add);
  checkDuplicates(facts, add);
  checkRedelivery(facts, add);
  checkOrder(facts, add);
  checkDivergence(events, add);
  checkReads(events, add);
  for (const e of events) if (e.type === "crash") add("crash", `${e.node}: ${e.detail}`);
  const healToWriteMs = checkLiveness(events, options.healWriteMsMax ?? 10_000, add);
  const longestWriteGap = writeGap(events);
  const counts = Object.fromEntries(VIOLATION_KINDS.map((k) => [k, 0])) as Record<
    ViolationKind,
    number
  >;
  const details: Violation[] = [];
  for (const v of found) {
    if (counts[v.kind]++ < (options.detailsMax ?? 20)) details.push(v);
  }
  const faults: Record<string, number> = {};
  for (const e of events) {
    if (e.type === "nemesis" && e.phase === "start") faults[e.kind] = (faults[e.kind] ?? 0) + 1;
  }
  return {
    operations: facts.ops.n,
    acknowledged: facts.acknowledged.size,
    delivered: facts.deliveries.length,
    outcomes: { ok: facts.ops.ok, fail: facts.ops.fail, unknown: facts.ops.unknown },
    counts,
    violations: found.length,
    details,
    faults,
    ...(healToWriteMs === undefined ? {} : { healToWriteMs }),
    ...(longestWriteGap === undefined ? {} : { longestWriteGap }),
  };
}

/** The longest stretch between accepted writes (answers ok to publish, ack, transaction...). */
function writeGap(events: readonly HistoryEvent[]): { ms: number; fromMs: number } | undefined {
  const writes = new Set<number>();
  let last: number | undefined;
  let best: { ms: number; fromMs: number } | undefined;
  for (const e of events) {
    if (e.type === "invoke" && e.op !== "receive" && e.op !== "read") writes.add(e.opId);
    if (e.type !== "complete" || e.outcome !== "ok" || !writes.has(e.opId)) continue;
    if (last !== undefined && (best === undefined || e.t - last > best.ms)) {
      best = { ms: e.t - last, fromMs: last };
    }
    last = e.t;
  }
  return best;
}

function checkLostAndUnexpected(f: Facts, add: Add): void {
  const deliveredOn = new Set(f.deliveries.map((d) => key(d.source, d.id)));
  for (const [name, cfg] of Object.entries(f.sources)) {
    for (const target of cfg.fedBy) {
      for (const m of f.acknowledged.values()) {
        if (m.target !== target || deliveredOn.has(key(name, m.id))) continue;
        add("lost", `${m.id}: published to ${target} (answered ok), never delivered on ${name}`);
      }
    }
  }
  const reported = new Set<string>();
  for (const d of f.deliveries) {
    const fedBy = f.sources[d.source]?.fedBy ?? [];
    // Published: some attempt may have been applied (ok, unknown, or never answered).
    if (
      fedBy.some((t) => {
        const a = f.invoked.get(key(t, d.id));
        return a !== undefined && a.failed < a.n;
      })
    ) continue;
    const k = key(d.source, d.id);
    if (reported.has(k)) continue;
    reported.add(k);
    add(
      "unexpected",
      `${d.id}: delivered on ${d.source} (seq ${d.seq}), never published or only refused (4xx)`,
    );
  }
}

function checkDuplicates(f: Facts, add: Add): void {
  for (const [k, seqs] of f.seqs) {
    if (seqs.size > 1) add("duplicated", `${k}: enqueued under seqs ${[...seqs].join(", ")}`);
  }
  for (const [k, n] of f.ackedCount) {
    const source = k.slice(0, k.indexOf("|"));
    if (n > 1 && f.sources[source]?.mode === "exactly_once") {
      add("duplicated", `${k}: answered acked ${n} times on an exactly-once source`);
    }
  }
  const times = new Map<string, number>();
  for (const d of f.deliveries) {
    if (f.sources[d.source]?.once !== true) continue;
    const k = key(d.source, d.id);
    times.set(k, (times.get(k) ?? 0) + 1);
  }
  for (const [k, n] of times) {
    if (n > 1) add("duplicated", `${k}: delivered ${n} times on a source that promises once`);
  }
  for (const [k, ids] of f.movedBy) {
    if (ids.size > 1) add("duplicated", `${k}: moved ${ids.size} times (${[...ids].join(", ")})`);
  }
}

function checkRedelivery(f: Facts, add: Add): void {
  for (const d of f.deliveries) {
    const acked = f.firstAckedAt.get(key(d.source, d.id));
    if (acked !== undefined && d.inv > acked) {
      add(
        "redelivered",
        `${d.id}: delivered on ${d.source} (attempt ${d.attempt}, receive at ${d.inv} ms) ` +
          `after an ack answered acked at ${acked} ms`,
      );
    }
  }
}

function checkDivergence(events: readonly HistoryEvent[], add: Add): void {
  const last = new Map<string, Extract<HistoryEvent, { type: "state" }>>();
  for (const e of events) if (e.type === "state") last.set(e.node, e);
  const states = [...last.values()];
  const indexes = new Set(states.map((s) => s.appliedIndex));
  if (indexes.size > 1) {
    add(
      "divergence",
      `nodes never reached one applied index: ${
        states.map((s) => `${s.node}@${s.appliedIndex}`).join(", ")
      }`,
    );
  }
  for (let a = 0; a < states.length; a++) {
    for (let b = a + 1; b < states.length; b++) {
      const [x, y] = [states[a], states[b]];
      if (x.appliedIndex !== y.appliedIndex) continue;
      const [sx, sy] = [canonical(x.sources), canonical(y.sources)];
      if (sx !== sy) {
        add("divergence", `${x.node} and ${y.node} at index ${x.appliedIndex}: ${sx} vs ${sy}`);
      }
    }
  }
}

function canonical(sources: Record<string, unknown>): string {
  return JSON.stringify(Object.keys(sources).sort().map((k) => [k, sources[k]]));
}

function checkLiveness(
  events: readonly HistoryEvent[],
  healWriteMsMax: number,
  add: Add,
): number | undefined {
  let heal: number | undefined;
  const writes = new Map<number, number>();
  let firstWrite: number | undefined;
  for (const e of events) {
    if (e.type === "heal") heal = e.t;
    if (e.type === "invoke" && e.op !== "receive" && e.op !== "read") writes.set(e.opId, e.t);
    if (e.type === "complete" && e.outcome === "ok" && heal !== undefined) {
      const inv = writes.get(e.opId);
      if (inv !== undefined && inv >= heal && firstWrite === undefined) firstWrite = e.t;
    }
    if (e.type === "drain" && !e.done) {
      add("liveness", `the final drain did not finish: ${e.detail}`);
    }
  }
  if (heal === undefined) return undefined;
  if (firstWrite === undefined) {
    add("liveness", `no write was accepted after the final heal at ${heal} ms`);
    return undefined;
  }
  const ms = firstWrite - heal;
  if (ms > healWriteMsMax) {
    add("liveness", `the first write after the final heal was accepted after ${ms} ms`);
  }
  return ms;
}

/**
 * Linearizable reads: every publish answered ok before the read began is in the count, and the
 * count never goes back below one a read already returned (one pass in time order).
 */
function checkReads(events: readonly HistoryEvent[], add: Add): void {
  const ackedIds = new Map<string, Set<string>>();
  const maxRead = new Map<string, number>();
  const publishes = new Map<number, readonly Published[]>();
  const reads = new Map<number, { source: string; floor: number; seen: number; t: number }>();
  for (const e of events) {
    if (e.type === "invoke" && (e.op === "publish" || e.op === "txn")) {
      publishes.set(e.opId, e.messages);
    } else if (e.type === "invoke" && e.op === "read") {
      reads.set(e.opId, {
        source: e.source,
        floor: ackedIds.get(e.source)?.size ?? 0,
        seen: maxRead.get(e.source) ?? 0,
        t: e.t,
      });
    } else if (e.type === "complete" && e.outcome === "ok") {
      for (const m of publishes.get(e.opId) ?? []) {
        let ids = ackedIds.get(m.target);
        if (ids === undefined) ackedIds.set(m.target, ids = new Set());
        ids.add(m.id);
      }
      const r = reads.get(e.opId);
      if (r === undefined || e.published === undefined) continue;
      if (e.published < r.floor) {
        add(
          "stale_read",
          `${r.source}: read begun at ${r.t} ms answered published ${e.published}, but ` +
            `${r.floor} distinct ids were acknowledged before it began`,
        );
      } else if (e.published < r.seen) {
        add(
          "stale_read",
          `${r.source}: read begun at ${r.t} ms answered published ${e.published} after an ` +
            `earlier read answered ${r.seen}`,
        );
      }
      maxRead.set(r.source, Math.max(maxRead.get(r.source) ?? 0, e.published));
    }
  }
}
