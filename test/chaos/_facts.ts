/**
 * The facts the chaos checker's rules need, gathered from a history in one pass. Internal to
 * `checker.ts` and `_order.ts`.
 *
 * @module
 */

import type { Delivered, HistoryEvent, Published, Settling, SourceConfig } from "./history.ts";

export type ViolationKind =
  | "lost"
  | "duplicated"
  | "unexpected"
  | "redelivered"
  | "order"
  | "divergence"
  | "liveness"
  | "crash"
  | "stale_read";

export const VIOLATION_KINDS: readonly ViolationKind[] = [
  "lost",
  "duplicated",
  "unexpected",
  "redelivered",
  "order",
  "divergence",
  "liveness",
  "crash",
  "stale_read",
];

export interface Violation {
  readonly kind: ViolationKind;
  readonly detail: string;
}

export interface Delivery extends Delivered {
  readonly source: string;
  readonly inv: number;
  readonly comp: number;
  readonly opId: number;
}

export type Invoke = Extract<HistoryEvent, { type: "invoke" }>;
export type Complete = Extract<HistoryEvent, { type: "complete" }>;

/** The facts the rules need, gathered in one pass over the history. */
export interface Facts {
  sources: Record<string, SourceConfig>;
  /** target|id → publish attempts, and how many of them were answered with a 4xx (not applied). */
  invoked: Map<string, { n: number; failed: number }>;
  publishedGroup: Map<string, string | undefined>;
  acknowledged: Map<string, Published>;
  seqs: Map<string, Set<number>>;
  movedBy: Map<string, Set<string>>;
  /** target|id → the source id a transaction moved into it. */
  fromOf: Map<string, string>;
  deliveries: Delivery[];
  receives: Delivery[][];
  ackedCount: Map<string, number>;
  firstAckedAt: Map<string, number>;
  firstAckInvokeAt: Map<string, number>;
  ops: { n: number; ok: number; fail: number; unknown: number };
}

export const key = (where: string, id: string) => `${where}|${id}`;

/** Checks one history; see the module doc for the rules. */
export function gather(events: readonly HistoryEvent[]): Facts {
  const f: Facts = {
    sources: {},
    invoked: new Map(),
    publishedGroup: new Map(),
    acknowledged: new Map(),
    seqs: new Map(),
    movedBy: new Map(),
    fromOf: new Map(),
    deliveries: [],
    receives: [],
    ackedCount: new Map(),
    firstAckedAt: new Map(),
    firstAckInvokeAt: new Map(),
    ops: { n: 0, ok: 0, fail: 0, unknown: 0 },
  };
  const invokes = new Map<number, Invoke>();
  for (const e of events) {
    if (e.type === "config") Object.assign(f.sources, e.sources);
    else if (e.type === "invoke") {
      invokes.set(e.opId, e);
      f.ops.n++;
      gatherInvoke(f, e);
    } else if (e.type === "complete") {
      const inv = invokes.get(e.opId);
      if (inv === undefined) continue;
      f.ops[e.outcome]++;
      if (e.outcome === "ok") gatherOk(f, inv, e);
      if (e.outcome === "fail" && (inv.op === "publish" || inv.op === "txn")) {
        for (const m of inv.messages) f.invoked.get(key(m.target, m.id))!.failed++;
      }
    }
  }
  // A delivered message that a transaction moved: the move happened, whatever its answer said.
  for (const d of f.deliveries) {
    for (const target of f.sources[d.source]?.fedBy ?? []) {
      const from = f.fromOf.get(key(target, d.id));
      if (from !== undefined) addTo(f.movedBy, key(target, from), d.id);
    }
  }
  return f;
}

function gatherInvoke(f: Facts, e: Invoke): void {
  if (e.op === "publish" || e.op === "txn") {
    for (const m of e.messages) {
      const k = key(m.target, m.id);
      const a = f.invoked.get(k) ?? { n: 0, failed: 0 };
      a.n++;
      f.invoked.set(k, a);
      f.publishedGroup.set(key(m.target, m.id), m.group);
      if (m.from !== undefined) f.fromOf.set(key(m.target, m.id), m.from);
    }
  }
  if (e.op === "ack" || e.op === "txn") {
    for (const it of e.items) {
      const k = key(it.source, it.id);
      if (!f.firstAckInvokeAt.has(k)) f.firstAckInvokeAt.set(k, e.t);
    }
  }
}

function gatherOk(f: Facts, inv: Invoke, e: Complete): void {
  if (inv.op === "publish" || inv.op === "txn") {
    inv.messages.forEach((m, i) => {
      const k = key(m.target, m.id);
      f.acknowledged.set(k, m);
      const seq = e.seqs?.[i];
      if (seq !== undefined) addTo(f.seqs, k, seq);
      if (m.from !== undefined) addTo(f.movedBy, key(m.target, m.from), m.id);
    });
  }
  if (inv.op === "ack" || inv.op === "txn") {
    inv.items.forEach((it: Settling, i) => {
      const status = e.statuses?.[i] ?? (inv.op === "txn" ? "acked" : undefined);
      if (status !== "acked") return;
      const k = key(it.source, it.id);
      f.ackedCount.set(k, (f.ackedCount.get(k) ?? 0) + 1);
      if (!f.firstAckedAt.has(k)) f.firstAckedAt.set(k, e.t);
    });
  }
  if (inv.op === "receive" && e.msgs !== undefined) {
    const one: Delivery[] = e.msgs.map((m) => ({
      ...m,
      source: inv.source,
      inv: inv.t,
      comp: e.t,
      opId: inv.opId,
    }));
    f.receives.push(one);
    for (const d of one) {
      f.deliveries.push(d);
      addTo(f.seqs, key(d.source, d.id), d.seq);
    }
  }
}

export function addTo<V>(m: Map<string, Set<V>>, k: string, v: V): void {
  let s = m.get(k);
  if (s === undefined) m.set(k, s = new Set());
  s.add(v);
}

/** Reports one violation. */
export type Add = (kind: ViolationKind, detail: string) => void;
